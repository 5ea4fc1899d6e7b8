package walletapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"sync"

	"github.com/tapwallet/tapwallet/fault"
)

// checkKeys walks a JSON body's objects and refuses what encoding/json
// would let through silently (docs/openapi.yaml promises strictness): a
// key given twice in one object ("duplicate_field": the last would win),
// and a key that names a field of v only case-insensitively
// ("field_case": "Email" would fill "email"). It fails with
// fault.Invalid naming the field when the name is safe to repeat. Syntax
// errors are left to the decoder that runs after it.
func checkKeys(body []byte, v any) error {
	names := fieldNames(reflect.TypeOf(v))
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	type frame struct {
		object  bool
		seen    map[string]bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return nil // the decoder reports the syntax error
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if key, ok := tok.(string); ok {
				if top.seen[key] {
					return fieldError("duplicate_field", key, "the field %s is given twice", "a field is given twice")
				}
				top.seen[key] = true
				if !names[key] {
					for n := range names {
						if strings.EqualFold(n, key) {
							return fieldError("field_case", key, "the field %s is not spelled as documented (field names are case-sensitive)", "a field is not spelled as documented (field names are case-sensitive)")
						}
					}
				}
				top.wantKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, seen: map[string]bool{}, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) == 0 {
			return nil
		}
		if t := stack[len(stack)-1]; t.object {
			t.wantKey = true // a value ended: a key comes next
		}
	}
}

// fieldError names the field when the name cannot be a secret a client
// sent by mistake (short, no digits); otherwise it says only what is wrong.
func fieldError(code, name, named, unnamed string) error {
	if len(name) > 40 || strings.ContainsAny(name, "0123456789") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fault.E(fault.Invalid, code, "%s", unnamed)
	}
	return fault.E(fault.Invalid, code, named, name)
}

var namesCache sync.Map // reflect.Type → map[string]bool

// fieldNames returns the JSON names of every struct field reachable from
// t (through pointers, slices, arrays, maps and nested structs).
func fieldNames(t reflect.Type) map[string]bool {
	if t == nil {
		return nil
	}
	if m, ok := namesCache.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	collectNames(t, m, map[reflect.Type]bool{})
	namesCache.Store(t, m)
	return m
}

func collectNames(t reflect.Type, into map[string]bool, done map[reflect.Type]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || done[t] {
		return
	}
	done[t] = true
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			collectNames(f.Type, into, done)
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = true
		collectNames(f.Type, into, done)
	}
}
