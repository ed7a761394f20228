package reports

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/zchaos/zchaos/scenarios"
)

// JSON writes r as indented JSON (two spaces, HTML characters not escaped),
// the versioned schema of SCHEMA.md, except that each timeline event is one
// compact line. A zero SchemaVersion is written as
// scenarios.ResultSchemaVersion; any other value is kept as it is. Scenario
// results are streamed one by one, so a large result never sits in memory
// twice.
func JSON(w io.Writer, r scenarios.Result) error {
	if r.SchemaVersion == 0 {
		r.SchemaVersion = scenarios.ResultSchemaVersion
	}
	list := r.Scenarios
	r.Scenarios = nil
	var head bytes.Buffer
	if err := encodeIndented(&head, r, ""); err != nil {
		return err
	}
	// Field order is Result's: the scenarios key sits at depth 1, on its own
	// line (a JSON string cannot hold a raw newline, so this is the key).
	const key = "\n  \"scenarios\": null"
	before, after, ok := bytes.Cut(head.Bytes(), []byte(key))
	if !ok {
		return fmt.Errorf("json: scenarios key not found in the encoded result")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(before)
	switch {
	case list == nil:
		bw.WriteString(key)
	case len(list) == 0:
		bw.WriteString("\n  \"scenarios\": []")
	default:
		bw.WriteString("\n  \"scenarios\": [")
		var a scenarioAppender
		var buf bytes.Buffer
		for i := range list {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			a.b = a.b[:0]
			a.scenario(&list[i])
			if a.ok {
				bw.Write(a.b)
			} else if err := writeScenario(bw, &buf, list[i]); err != nil {
				// encoding/json names the value JSON cannot hold.
				return err
			}
		}
		bw.WriteString("\n  ]")
	}
	bw.Write(after)
	return bw.Flush()
}

// writeScenario writes one scenario result indented at depth 2, with its
// timeline as one compact event per line (the bulk of a result: compact
// events keep it readable, diffable and fast to write).
func writeScenario(w io.Writer, buf *bytes.Buffer, s scenarios.ScenarioResult) error {
	events := s.Timeline
	s.Timeline = nil
	buf.Reset()
	if err := encodeIndented(buf, s, "    "); err != nil {
		return err
	}
	const key = "\n      \"timeline\": null"
	before, after, ok := bytes.Cut(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte(key))
	if !ok {
		return fmt.Errorf("json: timeline key not found in an encoded scenario result")
	}
	if _, err := w.Write(before); err != nil {
		return err
	}
	switch {
	case events == nil:
		if _, err := io.WriteString(w, key); err != nil {
			return err
		}
	case len(events) == 0:
		if _, err := io.WriteString(w, "\n      \"timeline\": []"); err != nil {
			return err
		}
	default:
		var line bytes.Buffer
		enc := json.NewEncoder(&line)
		enc.SetEscapeHTML(false)
		line.WriteString("\n      \"timeline\": [")
		for i, e := range events {
			if i > 0 {
				line.WriteByte(',')
			}
			line.WriteString("\n        ")
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("json: %w", err)
			}
			line.Truncate(line.Len() - 1) // Encode's newline
		}
		line.WriteString("\n      ]")
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
	}
	_, err := w.Write(after)
	return err
}

func encodeIndented(w io.Writer, v any, prefix string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("json: %w", err)
	}
	return nil
}
