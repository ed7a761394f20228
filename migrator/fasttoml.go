package migrator

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// fastTOML parses the plain subset of TOML that legacy service files use
// (bare-key table headers, bare keys, basic and literal one-line strings,
// booleans, decimal integers, one-line arrays, comments) straight into the
// decoder's shape (map[string]any, []any, string, bool, int64) and the
// line map of tomlLines. It is a speed path for large fleets: on anything
// outside that subset (or anything odd, such as a duplicate key) it returns
// ok=false and the caller uses the full decoder, which also reports errors.
// Tests check that whenever it answers, it answers exactly like the full
// decoder.
func fastTOML(data []byte) (doc map[string]any, lines map[string]int, ok bool) {
	if !utf8.Valid(data) {
		return nil, nil, false
	}
	doc = map[string]any{}
	lines = map[string]int{}
	defined := map[string]bool{} // explicitly defined tables
	cur, curName := doc, ""
	src := string(data)
	n := 0
	for len(src) > 0 {
		n++
		var line string
		if i := strings.IndexByte(src, '\n'); i >= 0 {
			line, src = strings.TrimSuffix(src[:i], "\r"), src[i+1:]
		} else {
			line, src = src, ""
		}
		if strings.IndexByte(line, '\r') >= 0 {
			return nil, nil, false // a lone CR: the full decoder says why
		}
		t := strings.TrimLeft(line, " \t")
		if t == "" || t[0] == '#' {
			if !commentOK(t) {
				return nil, nil, false
			}
			continue
		}
		if t[0] == '[' {
			end := strings.IndexByte(t, ']')
			if end < 0 || strings.HasPrefix(t, "[[") {
				return nil, nil, false
			}
			if !restOK(t[end+1:]) {
				return nil, nil, false
			}
			parts := strings.Split(t[1:end], ".")
			tbl := doc
			for i, p := range parts {
				p = strings.Trim(p, " \t")
				if !bareKey(p) {
					return nil, nil, false
				}
				parts[i] = p
				v, exists := tbl[p]
				if !exists {
					nt := map[string]any{}
					tbl[p] = nt
					tbl = nt
					continue
				}
				nt, isTable := v.(map[string]any)
				if !isTable {
					return nil, nil, false
				}
				tbl = nt
			}
			name := strings.Join(parts, ".")
			if defined[name] {
				return nil, nil, false
			}
			defined[name] = true
			cur, curName = tbl, name
			if _, seen := lines[name]; !seen {
				lines[name] = n
			}
			continue
		}
		eq := strings.IndexByte(t, '=')
		if eq < 0 {
			return nil, nil, false
		}
		key := strings.TrimRight(t[:eq], " \t")
		if !bareKey(key) {
			return nil, nil, false
		}
		if _, dup := cur[key]; dup {
			return nil, nil, false
		}
		v, rest, good := fastValue(strings.TrimLeft(t[eq+1:], " \t"))
		if !good || !restOK(rest) {
			return nil, nil, false
		}
		cur[key] = v
		full := key
		if curName != "" {
			full = curName + "." + key
		}
		lines[full] = n
	}
	return doc, lines, true
}

func bareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// restOK accepts what may follow a value: blanks and a comment.
func restOK(s string) bool {
	s = strings.TrimLeft(s, " \t")
	return s == "" || (s[0] == '#' && commentOK(s))
}

// commentOK rejects control characters TOML forbids in comments.
func commentOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fastValue reads one value at the start of s and returns the rest.
func fastValue(s string) (any, string, bool) {
	if s == "" {
		return nil, "", false
	}
	switch c := s[0]; {
	case c == '"':
		if strings.HasPrefix(s, `"""`) {
			return nil, "", false
		}
		return basicString(s)
	case c == '\'':
		if strings.HasPrefix(s, "'''") {
			return nil, "", false
		}
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return nil, "", false
		}
		v := s[1 : 1+end]
		if !commentOK(v) {
			return nil, "", false
		}
		return v, s[end+2:], true
	case c == '[':
		arr := []any{}
		rest := strings.TrimLeft(s[1:], " \t")
		for {
			if rest == "" {
				return nil, "", false
			}
			if rest[0] == ']' {
				return arr, rest[1:], true
			}
			v, r, ok := fastValue(rest)
			if !ok {
				return nil, "", false
			}
			if _, isArr := v.([]any); isArr {
				return nil, "", false // nested arrays: leave to the full decoder
			}
			arr = append(arr, v)
			rest = strings.TrimLeft(r, " \t")
			switch {
			case strings.HasPrefix(rest, ","):
				rest = strings.TrimLeft(rest[1:], " \t")
			case strings.HasPrefix(rest, "]"):
			default:
				return nil, "", false
			}
		}
	case strings.HasPrefix(s, "true"):
		return true, s[4:], wordEnd(s[4:])
	case strings.HasPrefix(s, "false"):
		return false, s[5:], wordEnd(s[5:])
	case c == '-' || c == '+' || ('0' <= c && c <= '9'):
		i := 0
		if c == '-' || c == '+' {
			i = 1
		}
		j := i
		for j < len(s) && '0' <= s[j] && s[j] <= '9' {
			j++
		}
		digits := s[i:j]
		if digits == "" || (len(digits) > 1 && digits[0] == '0') || !wordEnd(s[j:]) {
			return nil, "", false
		}
		v, err := strconv.ParseInt(s[:j], 10, 64)
		if err != nil {
			return nil, "", false
		}
		return v, s[j:], true
	}
	return nil, "", false
}

// wordEnd: a bare value must end at a blank, a comma, a bracket, a comment
// or the end of the line.
func wordEnd(s string) bool {
	return s == "" || strings.IndexByte(" \t,]#", s[0]) >= 0
}

// basicString reads a one-line "..." string with TOML's escapes.
func basicString(s string) (any, string, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, "", false
			}
			i++
			switch s[i] {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case '"':
				b.WriteByte('"')
			case '\\':
				b.WriteByte('\\')
			default:
				return nil, "", false // \u, \U, \e and the rest: the full decoder
			}
		case (c < 0x20 && c != '\t') || c == 0x7f:
			return nil, "", false
		default:
			b.WriteByte(c)
		}
	}
	return nil, "", false
}
