package study

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Cell is one grid point: one training run.
type Cell struct {
	ID      string   `json:"id"`
	Model   string   `json:"model"`   // ModelSpec.Name
	Task    string   `json:"task"`    // TaskSpec.Name
	Setting string   `json:"setting"` // Setting.Name
	Modules string   `json:"modules"` // ModulesLabel
	Types   []string `json:"types"`
	AvgRank int      `json:"avg_rank"`
	Source  string   `json:"source"`
	Seed    uint64   `json:"seed"`

	model   *ModelSpec
	task    *TaskSpec
	setting *Setting
}

// CellID joins the coordinates: model.task.setting.modules.rR.sSEED.source.
func CellID(modelName, task, setting, modules string, r int, seed uint64, source string) string {
	return fmt.Sprintf("%s.%s.%s.%s.r%d.s%d.%s", modelName, task, setting, modules, r, seed, source)
}

// Expand lists the grid's cells in run order: model, task, setting, module
// setting, average rank, seed, source — so the sources of one seed finish
// together and paired comparisons grow as the run goes.
func (c *Config) Expand() []Cell {
	var out []Cell
	for mi := range c.Models {
		m := &c.Models[mi]
		for ti := range c.Tasks {
			t := &c.Tasks[ti]
			for si := range c.Settings {
				s := &c.Settings[si]
				for _, mod := range c.Modules {
					if !s.UsesModules(mod) {
						continue
					}
					types, _ := ModuleTypes(mod) // validated by Normalize
					label := ModulesLabel(mod)
					for _, r := range c.AvgRanks {
						for _, seed := range c.Seeds {
							for _, src := range c.Sources {
								out = append(out, Cell{
									ID:    CellID(m.Name, t.Name, s.Name, label, r, seed, src),
									Model: m.Name, Task: t.Name, Setting: s.Name, Modules: label, Types: types,
									AvgRank: r, Source: src, Seed: seed, model: m, task: t, setting: s,
								})
							}
						}
					}
				}
			}
		}
	}
	return out
}

// Filter selects cells: a comma-separated list of terms that must all hold.
// A term KEY=V1|V2 matches a coordinate (keys: model, task, setting,
// modules, r, seed, source); any other term is a glob (path.Match) on the
// cell id. The empty filter matches everything.
type Filter struct {
	keys  map[string][]string
	globs []string
}

var filterKeys = []string{"model", "task", "setting", "modules", "r", "seed", "source"}

// ParseFilter parses a --only value.
func ParseFilter(s string) (*Filter, error) {
	f := &Filter{keys: map[string][]string{}}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		if term == "" {
			continue
		}
		if k, v, ok := strings.Cut(term, "="); ok {
			k = strings.TrimSpace(k)
			known := false
			for _, fk := range filterKeys {
				known = known || fk == k
			}
			if !known {
				return nil, fmt.Errorf("filter %q: unknown key %q (want %s, or a glob on the cell id)", term, k, strings.Join(filterKeys, ", "))
			}
			if _, dup := f.keys[k]; dup {
				return nil, fmt.Errorf("filter: key %q given twice (use %s=a|b for alternatives)", k, k)
			}
			f.keys[k] = strings.Split(v, "|")
			continue
		}
		if _, err := path.Match(term, ""); err != nil {
			return nil, fmt.Errorf("filter %q: bad glob: %v", term, err)
		}
		f.globs = append(f.globs, term)
	}
	return f, nil
}

// Match reports whether the cell passes the filter (a nil filter passes all).
func (f *Filter) Match(c *Cell) bool {
	if f == nil {
		return true
	}
	val := map[string]string{"model": c.Model, "task": c.Task, "setting": c.Setting, "modules": c.Modules,
		"r": strconv.Itoa(c.AvgRank), "seed": strconv.FormatUint(c.Seed, 10), "source": c.Source}
	for k, alts := range f.keys {
		ok := false
		for _, a := range alts {
			ok = ok || a == val[k] || (k == "modules" && ModulesLabel(a) == val[k])
		}
		if !ok {
			return false
		}
	}
	for _, g := range f.globs {
		if ok, _ := path.Match(g, c.ID); !ok {
			return false
		}
	}
	return true
}
