package zinit_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

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
