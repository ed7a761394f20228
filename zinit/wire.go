package zinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// JSONRPCVersion is the only protocol version spoken on the socket.
const JSONRPCVersion = "2.0"

// Request is one JSON-RPC 2.0 request: one line on the socket, named params
// (a JSON object). ID is absent for a notification; the client always sends
// an integer id. Both the client (this package) and the daemon
// (zinit/supervisor) use this type, so the wire format is defined once.
type Request struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
}

// IsNotification reports whether the request carries no id (and so expects
// no response).
func (r Request) IsNotification() bool { return len(r.ID) == 0 }

// DecodeParams decodes the request's named params into v strictly: unknown
// fields, a non-object or trailing data are rejected. Absent or null params
// decode as {}. The error is an *RPCError with CodeInvalidParams, ready to
// be sent back.
func (r Request) DecodeParams(v any) error {
	p := bytes.TrimSpace(r.Params)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		p = []byte("{}")
	}
	if p[0] != '{' {
		return &RPCError{Code: CodeInvalidParams, Message: "params must be a JSON object (named params)"}
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &RPCError{Code: CodeInvalidParams, Message: "invalid params: " + err.Error()}
	}
	if dec.More() {
		return &RPCError{Code: CodeInvalidParams, Message: "invalid params: trailing data"}
	}
	return nil
}

// RequireParams is DecodeParams for a method that takes params: absent or
// null params are an *RPCError with CodeInvalidParams naming the method.
func (r Request) RequireParams(v any) error {
	p := bytes.TrimSpace(r.Params)
	if len(p) == 0 || bytes.Equal(p, []byte("null")) {
		return &RPCError{Code: CodeInvalidParams, Message: fmt.Sprintf("invalid params: %s takes params (a JSON object), none given", r.Method)}
	}
	return r.DecodeParams(v)
}

// Validate checks the envelope: version "2.0" and a method. The error is an
// *RPCError (CodeInvalidRequest) ready to be sent back.
func (r Request) Validate() error {
	if r.JSONRPC != JSONRPCVersion {
		return &RPCError{Code: CodeInvalidRequest, Message: fmt.Sprintf("jsonrpc must be %q", JSONRPCVersion)}
	}
	if r.Method == "" {
		return &RPCError{Code: CodeInvalidRequest, Message: "method is required"}
	}
	return nil
}

// ParseRequest decodes one request line as JSON-RPC 2.0 requires. Not JSON:
// an *RPCError with CodeParseError. JSON that is not one request object — a
// batch (this daemon takes one request per line), [], a scalar —, an id
// that is an object, an array or a boolean, a jsonrpc or method that is
// not a string, params that are neither an object, an array nor null, or
// an envelope Validate rejects: CodeInvalidRequest. The returned Request
// carries the id whenever it could be read, so the error can be answered
// to it (else the answer's id is null). Params are checked by the method
// (DecodeParams, RequireParams).
func ParseRequest(line []byte) (Request, error) {
	line = bytes.TrimSpace(line)
	var whole json.RawMessage
	if err := json.Unmarshal(line, &whole); err != nil {
		return Request{}, &RPCError{Code: CodeParseError, Message: "parse error: " + err.Error()}
	}
	invalid := func(msg string) *RPCError { return &RPCError{Code: CodeInvalidRequest, Message: msg} }
	switch line[0] {
	case '{':
	case '[':
		return Request{}, invalid("batch requests are not supported: send one request object per line")
	default:
		return Request{}, invalid("a request must be a JSON object")
	}
	// Member names are case-sensitive: a map, not a struct (whose
	// decoding would take "Method" for "method").
	var members map[string]json.RawMessage
	if err := json.Unmarshal(line, &members); err != nil {
		return Request{}, invalid("invalid request: " + err.Error())
	}
	id, version, method, params := members["id"], members["jsonrpc"], members["method"], members["params"]
	if len(id) > 0 {
		switch id[0] {
		case '{', '[', 't', 'f':
			return Request{}, invalid("id must be a string, a number or null")
		}
	}
	req := Request{Params: params, ID: id}
	if len(version) > 0 && json.Unmarshal(version, &req.JSONRPC) != nil {
		return req, invalid(fmt.Sprintf("jsonrpc must be %q", JSONRPCVersion))
	}
	if len(method) > 0 && (method[0] != '"' || json.Unmarshal(method, &req.Method) != nil) {
		return req, invalid("method must be a string")
	}
	if len(params) > 0 {
		switch params[0] {
		case '{', '[', 'n':
		default:
			return req, invalid("params must be a JSON object (named params)")
		}
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// CodeInvalidRequest is JSON-RPC's "invalid request" (a malformed envelope).
const CodeInvalidRequest = -32600

// Response is one JSON-RPC 2.0 response line. Exactly one of Result and
// Error is sent: MarshalJSON writes "result": null for a success without a
// value, and "id": null when the request's id could not be read.
type Response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"`
}

// MarshalJSON enforces the one-of rule of JSON-RPC 2.0.
func (r Response) MarshalJSON() ([]byte, error) {
	id := r.ID
	if len(bytes.TrimSpace(id)) == 0 {
		id = json.RawMessage("null")
	}
	if r.Error != nil {
		return json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			Error   *RPCError       `json:"error"`
			ID      json.RawMessage `json:"id"`
		}{JSONRPCVersion, r.Error, id})
	}
	res := r.Result
	if len(bytes.TrimSpace(res)) == 0 {
		res = json.RawMessage("null")
	}
	return json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		ID      json.RawMessage `json:"id"`
	}{JSONRPCVersion, res, id})
}

// NewResult builds the success response to the request with id; v is
// marshalled (nil gives "result": null).
func NewResult(id json.RawMessage, v any) (Response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Response{}, fmt.Errorf("marshal result: %w", err)
	}
	return Response{JSONRPC: JSONRPCVersion, Result: b, ID: id}, nil
}

// NewErrorResponse builds the error response to the request with id; err is
// mapped with ToRPCError.
func NewErrorResponse(id json.RawMessage, err error) Response {
	return Response{JSONRPC: JSONRPCVersion, Error: ToRPCError(err), ID: id}
}

// ToRPCError maps an error to its wire form: an *RPCError in the chain is
// kept as is; ErrNotFound → CodeNotFound, ErrAlreadyExists →
// CodeAlreadyExists, ErrReadOnly → CodeReadOnly, ErrInvalid →
// CodeInvalidParams; anything else is CodeInternal. The message is err's text.
func ToRPCError(err error) *RPCError {
	if err == nil {
		return nil
	}
	var re *RPCError
	if errors.As(err, &re) {
		return re
	}
	code := CodeInternal
	switch {
	case errors.Is(err, ErrNotFound):
		code = CodeNotFound
	case errors.Is(err, ErrAlreadyExists):
		code = CodeAlreadyExists
	case errors.Is(err, ErrReadOnly):
		code = CodeReadOnly
	case errors.Is(err, ErrInvalid):
		code = CodeInvalidParams
	}
	return &RPCError{Code: code, Message: err.Error()}
}
