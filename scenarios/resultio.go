package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SchemaVersionError says a result was written with a schema version this
// build cannot read.
type SchemaVersionError struct {
	Got  int // 0 when the field is missing
	Want int
}

func (e *SchemaVersionError) Error() string {
	if e.Got == 0 {
		return fmt.Sprintf("not a zchaos result: schema_version is missing (want %d)", e.Want)
	}
	if e.Want == ResultSchemaVersion && OldestResultSchemaVersion < e.Want {
		return fmt.Sprintf("result schema_version %d is not supported: this zchaos reads versions %d to %d", e.Got, OldestResultSchemaVersion, e.Want)
	}
	return fmt.Sprintf("result schema_version %d is not supported: this zchaos reads version %d", e.Got, e.Want)
}

// ErrNotResult is wrapped when the input is not a JSON object at all.
var ErrNotResult = errors.New("not a zchaos result")

// DecodeResult reads one result JSON document. It checks schema_version
// before anything else and returns a *SchemaVersionError when it is missing
// or outside OldestResultSchemaVersion..ResultSchemaVersion; unknown fields
// are ignored (within a version, fields are only ever added). The result
// keeps the version it was written with.
func DecodeResult(r io.Reader) (Result, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Result{}, fmt.Errorf("read result: %w", err)
	}
	var head struct {
		SchemaVersion *int `json:"schema_version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrNotResult, err)
	}
	if head.SchemaVersion == nil || *head.SchemaVersion < OldestResultSchemaVersion || *head.SchemaVersion > ResultSchemaVersion {
		got := 0
		if head.SchemaVersion != nil {
			got = *head.SchemaVersion
		}
		return Result{}, &SchemaVersionError{Got: got, Want: ResultSchemaVersion}
	}
	var res Result
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&res); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	return res, nil
}
