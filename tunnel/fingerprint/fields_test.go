package fingerprint

import (
	"strings"
	"testing"
)

const paymentJSON = `{"merchant":"M-100234","terminal":"T-88","amount":"12.50","currency":"EUR","nonce":"9f1c2a7e4b","timestamp":"2026-11-27T10:00:00Z","card":{"pan":"4111111111111111","exp":"12/29"}}`

func TestFields(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		body string
		want LooseFields
	}{
		{"typical payment", JSON, paymentJSON, LooseFields{"12.5", "EUR", "M-100234", "T-88"}},
		{"numbers", JSON, `{"amount":1250,"merchant_id":100234,"tid":88}`, LooseFields{Amount: "1250", Merchant: "100234", Terminal: "88"}},
		{"amount forms agree", JSON, `{"amount":1.25e1}`, LooseFields{Amount: "12.5"}},
		{"numeric string lenient", JSON, `{"amount":" 012.500 "}`, LooseFields{Amount: "12.5"}},
		{"one level down", JSON, `{"payment":{"amount":"9.99","currency":"usd"},"merchantId":"X1"}`, LooseFields{Amount: "9.99", Currency: "USD", Merchant: "X1"}},
		{"adyen style", JSON, `{"amount":{"currency":"EUR","value":1000},"merchantAccount":"Acme","reference":"r1"}`, LooseFields{Amount: "1000", Currency: "EUR"}},
		{"top level wins", JSON, `{"a":{"amount":7},"amount":5}`, LooseFields{Amount: "5"}},
		{"earlier name wins", JSON, `{"amount":4,"total":3,"value":2}`, LooseFields{Amount: "4"}},
		{"earlier name wins nested", JSON, `{"p":{"total":3},"q":{"amount_cents":4}}`, LooseFields{Amount: "4"}},
		{"first nested occurrence", JSON, `{"a":{"mid":"A"},"b":{"mid":"B"}}`, LooseFields{Merchant: "A"}},
		{"case insensitive", JSON, `{"AMOUNT":"1.0","MID":"m","TerminalID":"t"}`, LooseFields{Amount: "1", Merchant: "m", Terminal: "t"}},
		{"camel case names", JSON, `{"merchantid":"m","terminalId":"t"}`, LooseFields{Merchant: "m", Terminal: "t"}},
		{"non-numeric amount skipped", JSON, `{"value":"abc","total":"2"}`, LooseFields{Amount: "2"}},
		{"non-scalar skipped", JSON, `{"merchant":true,"mid":"M","terminal":null,"tid":["x"]}`, LooseFields{Merchant: "M"}},
		{"two levels down unseen", JSON, `{"a":{"b":{"amount":1}}}`, LooseFields{}},
		{"arrays unseen", JSON, `{"items":[{"amount":1}]}`, LooseFields{}},
		{"top-level array", JSON, `[{"amount":1}]`, LooseFields{}},
		{"escaped value", JSON, `{"merchant":"M\u002d1"}`, LooseFields{Merchant: "M-1"}},
		{"escaped key", JSON, `{"\u0061mount":3}`, LooseFields{Amount: "3"}},
		{"empty strings skipped", JSON, `{"merchant":"","mid":"  "}`, LooseFields{}},
		{"long value skipped", JSON, `{"merchant":"` + strings.Repeat("x", 300) + `","mid":"short"}`, LooseFields{Merchant: "short"}},
		{"long key skipped", JSON, `{"` + strings.Repeat("k", 300) + `":1,"amount":2}`, LooseFields{Amount: "2"}},
		{"huge number skipped", JSON, `{"amount":1e900}`, LooseFields{}},
		{"nonce and timestamp ignored", JSON, `{"nonce":"1","timestamp":"2","ts":3}`, LooseFields{}},
		{"truncated keeps what it found", JSON, `{"amount":1,"currency":"EUR","merchant":"M`, LooseFields{Amount: "1", Currency: "EUR"}},
		{"garbage", JSON, `}{"amount":1`, LooseFields{}},
		{"form", Form, `amount=12.50&currency=eur&nonce=1&payment%5Bmerchant_id%5D=M1&order.tid=T9`, LooseFields{"12.5", "EUR", "M1", "T9"}},
		{"form brackets", Form, `payment[amount]=3&payment[currency]=GBP`, LooseFields{Amount: "3", Currency: "GBP"}},
		{"form top level wins", Form, `a[amount]=7&amount=5`, LooseFields{Amount: "5"}},
		{"form plus space", Form, `merchant=Acme+Ltd`, LooseFields{Merchant: "Acme Ltd"}},
		{"form bad escape skipped", Form, `merchant=%zz&mid=M`, LooseFields{Merchant: "M"}},
		{"form deeper unseen", Form, `a[b][amount]=1&a.b.amount=2`, LooseFields{}},
		{"raw", Raw, `amount=1`, LooseFields{}},
		{"unknown kind", Kind(9), `{"amount":1}`, LooseFields{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Fields([]byte(tt.body), tt.kind); got != tt.want {
				t.Errorf("Fields(%.60s) = %+v, want %+v", tt.body, got, tt.want)
			}
		})
	}
}

// Fields of a canonical body equal Fields of the body it came from.
func TestFieldsAfterCanonical(t *testing.T) {
	for _, body := range []string{paymentJSON, `{"payment":{"amount":10.50}, "mid": 7}`} {
		canon, kind, err := Canonical("application/json", []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if a, b := Fields([]byte(body), JSON), Fields(canon, kind); a != b {
			t.Errorf("%s: %+v vs canonical %+v", body, a, b)
		}
	}
}

func TestFieldsAllocs(t *testing.T) {
	canon, kind, _ := Canonical("application/json", []byte(paymentJSON))
	if n := testing.AllocsPerRun(100, func() { Fields(canon, kind) }); n > 1 {
		t.Errorf("Fields allocates %v times, want at most 1", n)
	}
}
