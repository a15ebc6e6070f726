package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Notebook importances and std over trials (reference doc C1/C2), query and value.
var (
	qY = []float64{0.083476424, 0.1386449, 0.15169092, 0.15550506, 0.19022527, 0.23578437, 0.26204735, 0.2828268, 0.31076545, 0.32095137, 0.3350768, 0.3348988}
	qE = []float64{0.02819717, 0.005647352, 0.008877718, 0.005140435, 0.022494953, 0.012557124, 0.013753076, 0.010831864, 0.00930183, 0.0034257835, 0.0043131337, 0.0096404925}
	vY = []float64{0.1067335, 0.2673352, 0.5113052, 0.64961135, 0.66023976, 0.6209688, 0.59066254, 0.61314476, 0.6017301, 0.72589016, 0.72327375, 0.570347}
	vE = []float64{0.06512618, 0.08032881, 0.1250961, 0.021135513, 0.030625999, 0.030754842, 0.046523977, 0.018294664, 0.06604415, 0.024329448, 0.04602122, 0.11850081}
)

// svgDoc holds what the tests inspect: every path and every text element.
type svgElem struct {
	Name  string
	Attrs map[string]string
	Text  string
}

func parseSVG(t *testing.T, data []byte) []svgElem {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var out []svgElem
	var stack []*svgElem
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v", err)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = x.Name.Local
			}
			e := &svgElem{Name: x.Name.Local, Attrs: map[string]string{}}
			for _, a := range x.Attr {
				e.Attrs[a.Name.Local] = a.Value
			}
			stack = append(stack, e)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(x)
			}
		case xml.EndElement:
			e := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			out = append(out, *e)
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return out
}

// pathsWith counts the <path> elements stroked in col with exactly n vertices.
func pathsWith(elems []svgElem, col string, n int) int {
	count := 0
	for _, e := range elems {
		if e.Name != "path" || !strings.Contains(e.Attrs["style"], "stroke:"+col) {
			continue
		}
		d := e.Attrs["d"]
		if strings.Count(d, "M")+strings.Count(d, "L") == n {
			count++
		}
	}
	return count
}

func hexColor(i int) string {
	c := SeriesColor(i)
	return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B)
}

func TestImportanceSVG(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fig2.svg")
	series := []Series{
		{Name: "query", Y: qY, Err: qE},
		{Name: "value & <more>", Y: vY, Err: vE},
		{Name: "no bars", X: []float64{0, 2, 4, 6, 8, 10, 11}, Y: []float64{0.3, 0.4, 0.5, 0.5, 0.6, 0.6, 0.4}},
	}
	title := "Model disagreement w.r.t. index of perturbed layer"
	if err := WriteImportanceSVG(path, title, series); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	elems := parseSVG(t, data)
	texts := map[string]bool{}
	for _, e := range elems {
		if e.Name == "text" {
			texts[e.Text] = true
		}
	}
	// Title, axis labels, legend names and one tick label per layer.
	want := []string{title, "index of perturbed layer", "model disagreement", "query", "value & <more>", "no bars"}
	for i := range 12 {
		want = append(want, fmt.Sprint(i))
	}
	for _, w := range want {
		if !texts[w] {
			t.Errorf("no <text> %q in the SVG", w)
		}
	}
	// Exactly one polyline path per series, with one vertex per point.
	for i, s := range series {
		if got := pathsWith(elems, hexColor(i), len(s.Y)); got != 1 {
			t.Errorf("series %q: %d paths of %d vertices in %s, want 1", s.Name, got, len(s.Y), hexColor(i))
		}
	}
	// Error bars: a vertical bar and two caps (2 vertices each) per point.
	if got := pathsWith(elems, hexColor(0), 2); got < 3*len(qY) {
		t.Errorf("query: %d two-vertex paths, want at least %d (bars and caps)", got, 3*len(qY))
	}
	// No temp files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only the SVG", len(entries))
	}
}

func TestRenderDeterministic(t *testing.T) {
	p := LinePlot{Title: "t", XLabel: "x", YLabel: "y", Series: []Series{{Name: "a", Y: qY, Err: qE}, {Name: "b", Y: vY}}}
	a, err := RenderLinePlotSVG(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RenderLinePlotSVG(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("same input gave different SVG bytes")
	}
}

func TestPlotErrors(t *testing.T) {
	cases := []struct {
		p   LinePlot
		msg string
	}{
		{LinePlot{}, "no series"},
		{LinePlot{Series: []Series{{Name: "a"}}}, "no points"},
		{LinePlot{Series: []Series{{Name: "a", X: []float64{1}, Y: []float64{1, 2}}}}, "1 x and 2 y"},
		{LinePlot{Series: []Series{{Name: "a", Y: []float64{1, 2}, Err: []float64{1}}}}, "1 error bars"},
		{LinePlot{Series: []Series{{Name: "a", Y: []float64{1, 2}, Err: []float64{1, -1}}}}, "not finite"},
		{LinePlot{Series: []Series{{Name: "a", Y: []float64{1, math.NaN()}}}}, "not finite"},
	}
	for _, c := range cases {
		_, err := RenderLinePlotSVG(c.p)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%+v: got %v, want error with %q", c.p, err, c.msg)
		}
	}
	if err := WriteLinePlotSVG(filepath.Join(t.TempDir(), "x.svg"), LinePlot{}); err == nil {
		t.Error("want an error")
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	v := map[string]any{"ranks": []int{1, 3, 7}, "note": "a<b"}
	if err := WriteJSON(path, v); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"note\": \"a<b\",\n  \"ranks\": [\n    1,\n    3,\n    7\n  ]\n}\n"
	if string(data) != want {
		t.Errorf("got %q, want %q", data, want)
	}
	var back map[string]any
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(path, func() {}); err == nil {
		t.Error("unencodable value: want an error")
	}
	if err := WriteJSON(filepath.Join(t.TempDir(), "missing", "r.json"), v); err == nil {
		t.Error("missing folder: want an error")
	}
}

func TestWriteFileAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	for _, s := range []string{"first version\n", "second\n"} {
		if err := WriteFileAtomic(path, []byte(s)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != s {
			t.Fatalf("got %q, %v; want %q", got, err, s)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("%d entries, want 1 (temp file left?)", len(entries))
	}
}

func TestTable(t *testing.T) {
	tb := NewTable("module", "layer", "importance", "rank", "note")
	tb.Row("query", 0, 0.083476424, 2, "")
	tb.Row("value", 11, float32(0.570347), 10, "capped")
	tb.Row("attn-out", 3, 1.5, "", "x")
	var b strings.Builder
	if err := tb.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"module    layer  importance  rank  note\n" +
		"--------  -----  ----------  ----  ------\n" +
		"query         0   0.0834764     2\n" +
		"value        11    0.570347    10  capped\n" +
		"attn-out      3         1.5        x\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	tb.Row("a", 1, 2, 3, 4, 5)
	if err := tb.Write(io.Discard); err == nil {
		t.Error("row wider than header: want an error")
	}
}

func TestNiceTicks(t *testing.T) {
	cases := []struct {
		lo, hi float64
		want   string
	}{
		{0, 0.84, "0.0 0.2 0.4 0.6 0.8"},
		{-0.04, 0.84, "0.0 0.2 0.4 0.6 0.8"},
		{-12, 410, "0 100 200 300 400"},
		{0.81, 0.93, "0.82 0.84 0.86 0.88 0.90 0.92"},
		{2, 2, "2"},
	}
	for _, c := range cases {
		var labels []string
		for _, tk := range (niceTicks{}).Ticks(c.lo, c.hi) {
			labels = append(labels, tk.Label)
		}
		if got := strings.Join(labels, " "); got != c.want {
			t.Errorf("ticks(%g, %g) = %q, want %q", c.lo, c.hi, got, c.want)
		}
	}
}
