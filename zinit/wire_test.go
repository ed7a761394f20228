package zinit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zchaos/zchaos/zinit"
)

func TestResponseMarshalOneOf(t *testing.T) {
	ok, err := zinit.NewResult(json.RawMessage("3"), nil)
	require.NoError(t, err)
	b, err := json.Marshal(ok)
	require.NoError(t, err)
	assert.JSONEq(t, `{"jsonrpc":"2.0","result":null,"id":3}`, string(b))

	ok, err = zinit.NewResult(json.RawMessage("4"), zinit.PingResult{Version: "v", PID: 9})
	require.NoError(t, err)
	b, err = json.Marshal(ok)
	require.NoError(t, err)
	assert.JSONEq(t, `{"jsonrpc":"2.0","result":{"version":"v","pid":9},"id":4}`, string(b))

	b, err = json.Marshal(zinit.NewErrorResponse(nil, errors.New("boom")))
	require.NoError(t, err)
	assert.JSONEq(t, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"boom"},"id":null}`, string(b))

	// Result and Error both set: the error wins, never both on the wire.
	b, err = json.Marshal(zinit.Response{Result: json.RawMessage("1"), Error: &zinit.RPCError{Code: -32000, Message: "x"}, ID: json.RawMessage("1")})
	require.NoError(t, err)
	assert.JSONEq(t, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"x"},"id":1}`, string(b))
}

func TestToRPCError(t *testing.T) {
	cases := []struct {
		err  error
		want zinit.RPCError
	}{
		{fmt.Errorf("service %q: %w", "a", zinit.ErrNotFound), zinit.RPCError{Code: zinit.CodeNotFound, Message: `service "a": not found`}},
		{fmt.Errorf("x: %w", zinit.ErrAlreadyExists), zinit.RPCError{Code: zinit.CodeAlreadyExists, Message: "x: already exists"}},
		{zinit.Job{}.Validate(), zinit.RPCError{Code: zinit.CodeInvalidParams, Message: zinit.Job{}.Validate().Error()}},
		{fmt.Errorf("wrapped: %w", &zinit.RPCError{Code: -32601, Message: "no such method"}), zinit.RPCError{Code: -32601, Message: "no such method"}},
		{errors.New("disk full"), zinit.RPCError{Code: zinit.CodeInternal, Message: "disk full"}},
	}
	for _, c := range cases {
		got := zinit.ToRPCError(c.err)
		require.NotNil(t, got)
		assert.Equal(t, c.want, *got)
	}
	assert.Nil(t, zinit.ToRPCError(nil))
}

func TestRequestDecodeParams(t *testing.T) {
	var p zinit.NameParams
	require.NoError(t, zinit.Request{Params: json.RawMessage(`{"name":"a"}`)}.DecodeParams(&p))
	assert.Equal(t, zinit.NameParams{Name: "a"}, p)

	var empty struct{}
	require.NoError(t, zinit.Request{}.DecodeParams(&empty), "absent params are {}")
	require.NoError(t, zinit.Request{Params: json.RawMessage("null")}.DecodeParams(&empty))

	for _, bad := range []string{`{"name":"a","extra":1}`, `["a"]`, `{"name":1}`, `{"name":"a"} {}`} {
		err := zinit.Request{Params: json.RawMessage(bad)}.DecodeParams(&p)
		var re *zinit.RPCError
		require.ErrorAs(t, err, &re, "params %s", bad)
		assert.Equal(t, zinit.CodeInvalidParams, re.Code)
		assert.ErrorIs(t, err, zinit.ErrInvalid)
	}

	var j zinit.Job
	require.NoError(t, zinit.Request{Params: json.RawMessage(`{"service":"s","name":"n","exec":"x","trigger":"check","restart":"never","interval_ms":60000}`)}.DecodeParams(&j))
	assert.Equal(t, zinit.TriggerCheck, j.Trigger)
}

func TestRequestValidate(t *testing.T) {
	require.NoError(t, zinit.Request{JSONRPC: "2.0", Method: "system.ping"}.Validate())
	for _, r := range []zinit.Request{{Method: "m"}, {JSONRPC: "1.0", Method: "m"}, {JSONRPC: "2.0"}} {
		var re *zinit.RPCError
		require.ErrorAs(t, r.Validate(), &re)
		assert.Equal(t, zinit.CodeInvalidRequest, re.Code)
	}
	assert.True(t, zinit.Request{}.IsNotification())
	assert.False(t, zinit.Request{ID: json.RawMessage("1")}.IsNotification())
}

// TestParseRequest: JSON-RPC 2.0's request rules, each bad envelope with
// its code, and the id kept whenever it could be read.
func TestParseRequest(t *testing.T) {
	ok := []struct {
		line string
		want zinit.Request
	}{
		{`{"jsonrpc":"2.0","method":"system.ping","id":1}`, zinit.Request{JSONRPC: "2.0", Method: "system.ping", ID: json.RawMessage("1")}},
		{`{"jsonrpc":"2.0","method":"m","id":"abc","params":{"a":1}}`, zinit.Request{JSONRPC: "2.0", Method: "m", ID: json.RawMessage(`"abc"`), Params: json.RawMessage(`{"a":1}`)}},
		{`{"jsonrpc":"2.0","method":"m","id":null}`, zinit.Request{JSONRPC: "2.0", Method: "m", ID: json.RawMessage("null")}},
		{`{"jsonrpc":"2.0","method":"m","id":-1.5e3}`, zinit.Request{JSONRPC: "2.0", Method: "m", ID: json.RawMessage("-1.5e3")}},
		{` {"jsonrpc":"2.0","method":"m"} `, zinit.Request{JSONRPC: "2.0", Method: "m"}},
		{`{"jsonrpc":"2.0","method":"m","params":["by","position"],"id":2}`, zinit.Request{JSONRPC: "2.0", Method: "m", ID: json.RawMessage("2"), Params: json.RawMessage(`["by","position"]`)}},
	}
	for _, c := range ok {
		got, err := zinit.ParseRequest([]byte(c.line))
		require.NoError(t, err, c.line)
		assert.Equal(t, c.want, got, c.line)
	}
	bad := []struct {
		line string
		code int
		id   string // the id the error is answered to ("" for null)
		msg  string
	}{
		{`{"jsonrpc":"2.0","method":`, zinit.CodeParseError, "", "parse error"},
		{`hello`, zinit.CodeParseError, "", "parse error"},
		{`[]`, zinit.CodeInvalidRequest, "", "batch requests are not supported"},
		{`[{"jsonrpc":"2.0","method":"system.ping","id":1}]`, zinit.CodeInvalidRequest, "", "batch requests are not supported"},
		{`42`, zinit.CodeInvalidRequest, "", "a request must be a JSON object"},
		{`"system.ping"`, zinit.CodeInvalidRequest, "", "a request must be a JSON object"},
		{`null`, zinit.CodeInvalidRequest, "", "a request must be a JSON object"},
		{`{"jsonrpc":"2.0","method":"m","id":{"a":1}}`, zinit.CodeInvalidRequest, "", "id must be a string, a number or null"},
		{`{"jsonrpc":"2.0","method":"m","id":[1]}`, zinit.CodeInvalidRequest, "", "id must be a string, a number or null"},
		{`{"jsonrpc":"2.0","method":"m","id":true}`, zinit.CodeInvalidRequest, "", "id must be a string, a number or null"},
		{`{"jsonrpc":"2.0","method":"m","id":false}`, zinit.CodeInvalidRequest, "", "id must be a string, a number or null"},
		{`{"jsonrpc":2.0,"method":"m","id":3}`, zinit.CodeInvalidRequest, "3", `jsonrpc must be "2.0"`},
		{`{"jsonrpc":"1.0","method":"m","id":3}`, zinit.CodeInvalidRequest, "3", `jsonrpc must be "2.0"`},
		{`{"method":"m","id":3}`, zinit.CodeInvalidRequest, "3", `jsonrpc must be "2.0"`},
		{`{"jsonrpc":"2.0","method":7,"id":3}`, zinit.CodeInvalidRequest, "3", "method must be a string"},
		{`{"jsonrpc":"2.0","method":null,"id":3}`, zinit.CodeInvalidRequest, "3", "method must be a string"},
		{`{"jsonrpc":"2.0","id":3}`, zinit.CodeInvalidRequest, "3", "method is required"},
		{`{"JSONRPC":"2.0","Method":"m","id":3}`, zinit.CodeInvalidRequest, "3", `jsonrpc must be "2.0"`},
		{`{"jsonrpc":"2.0","method":"m","params":"x","id":3}`, zinit.CodeInvalidRequest, "3", "params must be a JSON object"},
		{`{"jsonrpc":"2.0","method":"m","params":1,"id":3}`, zinit.CodeInvalidRequest, "3", "params must be a JSON object"},
	}
	for _, c := range bad {
		req, err := zinit.ParseRequest([]byte(c.line))
		var re *zinit.RPCError
		require.ErrorAs(t, err, &re, c.line)
		assert.Equal(t, c.code, re.Code, c.line)
		assert.Contains(t, re.Message, c.msg, c.line)
		assert.Equal(t, c.id, string(req.ID), c.line)
	}
}

// TestRequireParams: a method that takes params gets -32602 (invalid
// params) when they are absent or null, never a lookup of an empty name.
func TestRequireParams(t *testing.T) {
	var p zinit.NameParams
	for _, params := range []string{"", "null", " null "} {
		err := zinit.Request{Method: "service.status", Params: json.RawMessage(params)}.RequireParams(&p)
		var re *zinit.RPCError
		require.ErrorAs(t, err, &re, "params %q", params)
		assert.Equal(t, zinit.RPCError{Code: zinit.CodeInvalidParams, Message: "invalid params: service.status takes params (a JSON object), none given"}, *re)
	}
	require.NoError(t, zinit.Request{Params: json.RawMessage(`{"name":"a"}`)}.RequireParams(&p))
	assert.Equal(t, "a", p.Name)

	assert.ErrorIs(t, zinit.NameParams{}.Validate(), zinit.ErrInvalid)
	assert.ErrorIs(t, zinit.JobRefParams{Service: "s"}.Validate(), zinit.ErrInvalid)
	assert.ErrorIs(t, zinit.KillParams{Name: "s"}.Validate(), zinit.ErrInvalid)
	assert.ErrorIs(t, zinit.LogsParams{Name: "s", Lines: -1}.Validate(), zinit.ErrInvalid)
	require.NoError(t, zinit.LogsParams{Name: "s"}.Validate())
	require.NoError(t, zinit.KillParams{Name: "s", Signal: "TERM"}.Validate())
}

// TestJobWireZeroDuration: 0 has one meaning across the CLI and the RPC:
// "must be > 0". An absent duration is "not given" (the default applies);
// a duration given as 0 is rejected, as the CLI rejects --restart-delay 0.
func TestJobWireZeroDuration(t *testing.T) {
	base := `"service":"s","name":"main","exec":"x","trigger":"start"`
	var j zinit.Job
	require.NoError(t, json.Unmarshal([]byte("{"+base+"}"), &j))
	assert.Zero(t, j.RestartDelay)
	assert.Equal(t, zinit.DefaultRestartDelay, j.EffectiveRestartDelay())
	for _, field := range []string{"restart_delay_ms", "interval_ms", "timeout_ms"} {
		err := json.Unmarshal([]byte("{"+base+`,"`+field+`":0}`), &j)
		require.ErrorIs(t, err, zinit.ErrInvalid, field)
		assert.Equal(t, "invalid: "+field+" 0: must be > 0 (leave it out for the default)", err.Error())
	}
	err := json.Unmarshal([]byte("{"+base+`,"restart_delay_ms":9223372036854775807}`), &j)
	require.ErrorIs(t, err, zinit.ErrInvalid, "no silent overflow")
	assert.Contains(t, err.Error(), "must be <=")

	// Through the daemon's params decoder: -32602 with the same words.
	err = zinit.Request{Params: json.RawMessage("{" + base + `,"restart_delay_ms":0}`)}.DecodeParams(&j)
	var re *zinit.RPCError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, zinit.CodeInvalidParams, re.Code)
	assert.Contains(t, re.Message, "restart_delay_ms 0: must be > 0")

	// A marshalled job round-trips and never writes a 0.
	in := zinit.Job{Service: "s", Name: "c", Exec: "x", Trigger: zinit.TriggerCheck, Interval: time.Second}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "timeout_ms")
	var out zinit.Job
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
}

// FuzzParseRequest: the daemon's request decoder never panics; what it
// accepts is a valid envelope whose id is absent, a string, a number or
// null, and what it refuses is a parse error or an invalid request.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","method":"system.ping","id":1}`,
		`{"jsonrpc":"2.0","method":"service.status","params":{"name":"a"},"id":"x"}`,
		`{"jsonrpc":"2.0","method":"job.add","params":{"service":"s","name":"m","exec":"x","trigger":"start","restart_delay_ms":0},"id":2}`,
		`[]`, `[{"jsonrpc":"2.0","method":"m","id":1}]`, `{"jsonrpc":"2.0","method":"m","id":{}}`,
		`{"jsonrpc":"2.0","method":"m","id":true}`, `{"jsonrpc":"2.0","method":"m","params":"s"}`,
		`{"jsonrpc":"2.0","method":`, `null`, ``, "\x00", `{"JSONRPC":"2.0","Method":"m"}`,
		`{"jsonrpc":"2.0","method":"m","id":1,"id":{}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		req, err := zinit.ParseRequest(line)
		if err != nil {
			var re *zinit.RPCError
			if !errors.As(err, &re) || (re.Code != zinit.CodeParseError && re.Code != zinit.CodeInvalidRequest) {
				t.Fatalf("ParseRequest(%q): %v is not a parse error or an invalid request", line, err)
			}
			if _, merr := json.Marshal(zinit.NewErrorResponse(req.ID, err)); merr != nil {
				t.Fatalf("ParseRequest(%q): the error answer does not marshal: %v", line, merr)
			}
			return
		}
		if verr := req.Validate(); verr != nil {
			t.Fatalf("ParseRequest(%q) accepted an invalid envelope: %v", line, verr)
		}
		if len(req.ID) > 0 {
			switch req.ID[0] {
			case '{', '[', 't', 'f':
				t.Fatalf("ParseRequest(%q) accepted the id %s", line, req.ID)
			}
		}
		var p struct{}
		_ = req.DecodeParams(&p) // never panics
		if _, merr := json.Marshal(zinit.NewErrorResponse(req.ID, errors.New("x"))); merr != nil {
			t.Fatalf("ParseRequest(%q): an answer to id %s does not marshal: %v", line, req.ID, merr)
		}
	})
}
