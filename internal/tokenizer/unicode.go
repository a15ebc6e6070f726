package tokenizer

import "unicode"

// runeRange is an inclusive code-point range.
type runeRange struct{ lo, hi rune }

// inRanges reports whether r lies in one of the sorted, disjoint ranges.
func inRanges(r rune, ranges []runeRange) bool {
	lo, hi := 0, len(ranges)
	for lo < hi {
		mid := (lo + hi) / 2
		switch {
		case r < ranges[mid].lo:
			hi = mid
		case r > ranges[mid].hi:
			lo = mid + 1
		default:
			return true
		}
	}
	return false
}

// isWhitespace is Rust's char::is_whitespace (the Unicode White_Space property), which HF
// uses in BertNormalizer, BertPreTokenizer and added-token stripping.
func isWhitespace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

// isBertControl is BertNormalizer's is_control: Cc, Cf or Co per the unicode_categories
// crate, except tab, newline and carriage return (which count as whitespace).
func isBertControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return inRanges(r, crateOther)
}

// isBertPunct is BertPreTokenizer's punctuation test: ASCII punctuation (33-47, 58-64,
// 91-96, 123-126) or a P* category per the unicode_categories crate.
func isBertPunct(r rune) bool {
	if r < 0x80 {
		return (r >= 33 && r <= 47) || (r >= 58 && r <= 64) || (r >= 91 && r <= 96) || (r >= 123 && r <= 126)
	}
	return inRanges(r, cratePunct)
}

// isNonspacingMark is the crate's is_mark_nonspacing (Mn), used to strip accents.
func isNonspacingMark(r rune) bool {
	if r < 0x300 {
		return false
	}
	return inRanges(r, crateMn)
}

// isChineseChar reports whether r is in the CJK ideograph blocks that HF's BertNormalizer
// surrounds with spaces (HF's exact ranges, including its 0x2B920 lower bound).
func isChineseChar(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B920 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// isWordChar is Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector
// punctuation and the join controls. Used for AddedToken.single_word.
func isWordChar(r rune) bool {
	if r < 0x80 {
		return r == '_' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
	}
	return unicode.IsLetter(r) || unicode.IsMark(r) || unicode.Is(unicode.Nd, r) ||
		unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.Is(unicode.Pc, r) || r == 0x200C || r == 0x200D
}

// appendLower appends Rust's char::to_lowercase(r): Go's simple lower-case mapping plus the
// one unconditional multi-rune mapping in SpecialCasing.txt (U+0130 -> "i\u0307").
func appendLower(dst []rune, r rune) []rune {
	if r < 0x80 {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(dst, r)
	}
	if r == 0x130 {
		return append(dst, 'i', 0x307)
	}
	return append(dst, unicode.ToLower(r))
}
