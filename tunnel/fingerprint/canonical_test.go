package fingerprint

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCanonicalJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"sorted keys", `{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{"whitespace", " {\n\t\"a\" : [ 1 , 2 ] ,\r\n \"b\" : { } } \n", `{"a":[1,2],"b":{}}`},
		{"nested sort", `{"z":{"y":1,"x":[{"d":1,"c":2}]},"a":null}`, `{"a":null,"z":{"x":[{"c":2,"d":1}],"y":1}}`},
		{"empty containers", `[{},[],""]`, `[{},[],""]`},
		{"literals", `[true,false,null]`, `[true,false,null]`},
		{"top-level scalar", `"x"`, `"x"`},
		{"number 10.50", `10.50`, `10.5`},
		{"number 10.5", `10.5`, `10.5`},
		{"number 1.05e1", `1.05e1`, `10.5`},
		{"number 105E-1", `105E-1`, `10.5`},
		{"number 1050e-2", `1050e-2`, `10.5`},
		{"zero", `0`, `0`},
		{"negative zero", `-0.000e5`, `0`},
		{"integer", `-12`, `-12`},
		{"integer trailing zeros", `1200`, `1200`},
		{"big integer keeps digits", `123456789012345678901234567890`, `123456789012345678901234567890`},
		{"big integer beyond float64", `9007199254740993`, `9007199254740993`},
		{"big integer with fraction zeros", `12345678901234567890123.000`, `12345678901234567890123`},
		{"1e21 in full", `1e21`, `1000000000000000000000`},
		{"1e22 exponent", `1e22`, `1e22`},
		{"1e22 written out", `10000000000000000000000`, `1e22`},
		{"exponent mantissa", `12.5e40`, `1.25e41`},
		{"small plain", `0.000001`, `0.000001`},
		{"small plain exp", `1e-6`, `0.000001`},
		{"tiny exponent", `0.0000001`, `1e-7`},
		{"tiny mantissa", `-0.000000123`, `-1.23e-7`},
		{"fraction", `0.5`, `0.5`},
		{"fraction leading zeros", `0.0012`, `0.0012`},
		{"precise decimal", `0.1000000000000000000000000000001`, `0.1000000000000000000000000000001`},
		{"plus exponent", `1E+2`, `100`},
		{"string escapes normalized", `"\u0041\/\u00e9\t\u001f\""`, "\"A/\u00e9\\t\\u001f\\\"\""},
		{"string controls", `"\b\f\n\r\u0000\u007f"`, "\"\\b\\f\\n\\r\\u0000\u007f\""},
		{"surrogate pair", `"\ud83d\ude00"`, "\"\U0001F600\""},
		{"utf8 kept", "\"caf\u00e9 \u2028\"", "\"caf\u00e9 \u2028\""},
		{"key escapes sort by value", `{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
		{"utf16 key order", "{\"\uff61\":1,\"\U0001F600\":2,\"z\":3}", "{\"z\":3,\"\U0001F600\":2,\"\uff61\":1}"},
		{"prefix keys", `{"ab":1,"a":2,"":3}`, `{"":3,"a":2,"ab":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kind, err := Canonical("application/json", []byte(tt.in))
			if err != nil {
				t.Fatalf("Canonical(%s): %v", tt.in, err)
			}
			if kind != JSON {
				t.Errorf("kind = %v, want json", kind)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output %s is not valid JSON", got)
			}
			again, _, err := Canonical("application/json", got)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %s -> %s (%v)", got, again, err)
			}
		})
	}
}

func TestCanonicalSameBytes(t *testing.T) {
	// Different encodings of one payment canonicalize to the same bytes.
	forms := []string{
		`{"amount":10.50,"currency":"EUR","merchant":"M-1"}`,
		`{ "merchant" : "M-1", "currency":"\u0045UR", "amount": 1.05e1 }`,
		"{\n  \"currency\": \"EUR\",\n  \"amount\": 105E-1,\n  \"merchant\": \"M\\u002d1\"\n}\n",
	}
	want, _, err := Canonical("application/json", []byte(forms[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range forms[1:] {
		got, _, err := Canonical("application/json; charset=utf-8", []byte(f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s\n -> %s\nwant %s", f, got, want)
		}
	}
}

func TestCanonicalJSONErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"duplicate key", `{"a":1,"a":2}`, ErrDuplicateKey},
		{"duplicate key after sort", `{"b":1,"a":1,"b":2}`, ErrDuplicateKey},
		{"duplicate escaped key", `{"a":1,"\u0061":2}`, ErrDuplicateKey},
		{"nested duplicate", `[{"x":{"k":1,"k":1}}]`, ErrDuplicateKey},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ErrTooDeep},
		{"too deep objects", strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), ErrTooDeep},
		{"very deep", strings.Repeat("[", 60_000), ErrTooDeep},
		{"very deep over the limit", strings.Repeat("[", 1_000_000), ErrTooLarge},
		{"trailing comma", `{"a":1,}`, ErrInvalidJSON},
		{"trailing data", `{} x`, ErrInvalidJSON},
		{"two values", `{}{}`, ErrInvalidJSON},
		{"unterminated", `{"a":`, ErrInvalidJSON},
		{"unterminated string", `["abc`, ErrInvalidJSON},
		{"single quotes", `{'a':1}`, ErrInvalidJSON},
		{"leading zero", `[01]`, ErrInvalidJSON},
		{"bare dot", `[1.]`, ErrInvalidJSON},
		{"plus sign", `[+1]`, ErrInvalidJSON},
		{"bad literal", `[tru]`, ErrInvalidJSON},
		{"NaN", `[NaN]`, ErrInvalidJSON},
		{"control char", "[\"a\x01\"]", ErrInvalidJSON},
		{"bad escape", `["\x"]`, ErrInvalidJSON},
		{"short unicode escape", `["\u12"]`, ErrInvalidJSON},
		{"lone high surrogate", `["\ud800"]`, ErrInvalidJSON},
		{"lone low surrogate", `["\udc00"]`, ErrInvalidJSON},
		{"high then non-low", `["\ud800\u0041"]`, ErrInvalidJSON},
		{"invalid utf8", "[\"\xff\"]", ErrInvalidJSON},
		{"utf8 surrogate", "[\"\xed\xa0\x80\"]", ErrInvalidJSON},
		{"whitespace only", "  ", ErrInvalidJSON},
		{"huge exponent", `1e1000000000`, ErrNumberRange},
		{"huge negative exponent", `[1e-99999999999999999999]`, ErrNumberRange},
		{"exponent without digits", `[1e]`, ErrInvalidJSON},
		{"too large", `"` + strings.Repeat("a", MaxBodySize) + `"`, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.in)
			canon, kind, err := Canonical("application/json", body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Canonical(%.40q) error = %v, want %v", tt.in, err, tt.want)
			}
			if kind != Raw {
				t.Errorf("kind = %v, want raw on error", kind)
			}
			if errors.Is(err, ErrTooLarge) {
				if canon != nil {
					t.Errorf("canon = %.20q, want nil", canon)
				}
			} else if !bytes.Equal(canon, body) {
				t.Errorf("canon on error = %q, want the raw body", canon)
			}
		})
	}
}

func TestCanonicalKinds(t *testing.T) {
	tests := []struct {
		name, ct, in, want string
		kind               Kind
	}{
		{"json +json", "application/problem+json", `{"b":1,"a":2}`, `{"a":2,"b":1}`, JSON},
		{"json upper case", "Application/JSON ; charset=UTF-8", `[ 1 ]`, `[1]`, JSON},
		{"text/json", "text/json", `[ 1 ]`, `[1]`, JSON},
		{"sniffed object", "text/plain", "\n {\"b\":1,\"a\":2}", `{"a":2,"b":1}`, JSON},
		{"sniffed array no type", "", `[ 2 , 1 ]`, `[2,1]`, JSON},
		{"sniffed json in form type", "application/x-www-form-urlencoded", `{"a": 1}`, `{"a":1}`, JSON},
		{"sniff fails: raw", "text/plain", `{not json`, `{not json`, Raw},
		{"sniff fails: form", "application/x-www-form-urlencoded", `{x=1&a=2`, `a=2&%7Bx=1`, Form},
		{"sniff duplicate: raw", "", `{"a":1,"a":2}`, `{"a":1,"a":2}`, Raw},
		{"json scalar not sniffed", "text/plain", `"x"`, `"x"`, Raw},
		{"empty", "application/json", ``, ``, Raw},
		{"empty form", "application/x-www-form-urlencoded", ``, ``, Form},
		{"form without pairs", "application/x-www-form-urlencoded", `&&`, ``, Form},
		{"raw text", "text/plain", `hello world`, `hello world`, Raw},
		{"raw binary", "application/octet-stream", "\x00\x01\xff", "\x00\x01\xff", Raw},
		{"form sorted", "application/x-www-form-urlencoded", `b=2&a=1&a=0`, `a=0&a=1&b=2`, Form},
		{"form re-encoded", "application/x-www-form-urlencoded", `n=J%C3%BCrgen+M&x=a%2fb&e&&t=~-._*`, `e=&n=J%C3%BCrgen+M&t=~-._%2A&x=a%2Fb`, Form},
		{"form same pair", "application/x-www-form-urlencoded", `amount=12.50&currency=EUR`, `amount=12.50&currency=EUR`, Form},
		{"form escaped key order", "application/x-www-form-urlencoded", `%62=1&a=2`, `a=2&b=1`, Form},
		{"form semicolon is data", "application/x-www-form-urlencoded", `a=1;b=2`, `a=1%3Bb%3D2`, Form},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, kind, err := Canonical(tt.ct, []byte(tt.in))
			if err != nil {
				t.Fatalf("Canonical: %v", err)
			}
			if kind != tt.kind || string(got) != tt.want {
				t.Errorf("Canonical(%q, %q) = %q, %v; want %q, %v", tt.ct, tt.in, got, kind, tt.want, tt.kind)
			}
			again, kind2, err := Canonical(tt.ct, got)
			if err != nil || kind2 != kind || !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %q -> %q, %v (%v)", got, again, kind2, err)
			}
		})
	}
}

func TestCanonicalFormErrors(t *testing.T) {
	for _, in := range []string{"a=%", "a=%4", "a=%zz", "%g0=1", "a=1&b=%x1"} {
		body := []byte(in)
		canon, kind, err := Canonical("application/x-www-form-urlencoded", body)
		if !errors.Is(err, ErrInvalidForm) {
			t.Errorf("Canonical(%q) error = %v, want ErrInvalidForm", in, err)
		}
		if kind != Raw || !bytes.Equal(canon, body) {
			t.Errorf("Canonical(%q) = %q, %v; want raw body", in, canon, kind)
		}
	}
}

func TestAppendCanonical(t *testing.T) {
	dst := []byte("prefix:")
	out, kind, err := AppendCanonical(dst, "application/json", []byte(`{"b":1,"a":2}`), 0)
	if err != nil || kind != JSON || string(out) != `prefix:{"a":2,"b":1}` {
		t.Errorf("got %q, %v, %v", out, kind, err)
	}
	out, kind, err = AppendCanonical(dst[:7], "text/plain", []byte("raw"), 0)
	if err != nil || kind != Raw || string(out) != "prefix:raw" {
		t.Errorf("raw: got %q, %v, %v", out, kind, err)
	}
	out, _, err = AppendCanonical(dst[:7], "text/plain", []byte("12345"), 4)
	if !errors.Is(err, ErrTooLarge) || string(out) != "prefix:" {
		t.Errorf("limit: got %q, %v", out, err)
	}
	out, kind, err = AppendCanonical(dst[:7], "application/json", []byte(`{"a":1,"a":1}`), 0)
	if !errors.Is(err, ErrDuplicateKey) || kind != Raw || string(out) != `prefix:{"a":1,"a":1}` {
		t.Errorf("error: got %q, %v, %v", out, kind, err)
	}
	// The limit is exactly inclusive.
	if _, _, err := AppendCanonical(nil, "", []byte("1234"), 4); err != nil {
		t.Errorf("body at the limit: %v", err)
	}
	body := bytes.Repeat([]byte("a"), MaxBodySize)
	if _, _, err := Canonical("text/plain", body); err != nil {
		t.Errorf("body of MaxBodySize: %v", err)
	}
}

func TestCanonicalRawAliases(t *testing.T) {
	body := []byte("plain")
	canon, _, _ := Canonical("text/plain", body)
	if &canon[0] != &body[0] {
		t.Error("Raw canon should be the body itself")
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Raw: "raw", JSON: "json", Form: "form", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", k, got, want)
		}
	}
}

func TestCompareKeys(t *testing.T) {
	// RFC 8785 section 3.2.3 sorting example, in order.
	keys := []string{"\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001F600", "\ufb33"}
	for i := 1; i < len(keys); i++ {
		if c := compareKeys([]byte(keys[i-1]), []byte(keys[i])); c >= 0 {
			t.Errorf("compareKeys(%q, %q) = %d, want < 0", keys[i-1], keys[i], c)
		}
		if c := compareKeys([]byte(keys[i]), []byte(keys[i-1])); c <= 0 {
			t.Errorf("compareKeys(%q, %q) = %d, want > 0", keys[i], keys[i-1], c)
		}
	}
}
