package fingerprint_test

import (
	"bytes"
	"fmt"

	"github.com/halo-sec/halo/tunnel/fingerprint"
)

func ExampleCanonical() {
	body := []byte(`{ "currency": "EUR", "amount": 10.50, "merchant": "M-1", "nonce": "\u0061b" }`)
	canon, kind, err := fingerprint.Canonical("application/json", body)
	if err != nil {
		panic(err)
	}
	fmt.Println(kind, string(canon))
	fmt.Printf("%+v\n", fingerprint.Fields(canon, kind))
	// Output:
	// json {"amount":10.5,"currency":"EUR","merchant":"M-1","nonce":"ab"}
	// {Amount:10.5 Currency:EUR Merchant:M-1 Terminal:}
}

func ExampleKeyer() {
	secret := bytes.Repeat([]byte{0x42}, fingerprint.KeySize) // per tenant, random in real use
	k, err := fingerprint.NewKeyer(secret)
	if err != nil {
		panic(err)
	}
	fp := func(body string) (strict, loose [16]byte) {
		canon, kind, _ := fingerprint.Canonical("application/json", []byte(body))
		return k.Strict("POST", "pay.example", "/v1/charge", canon),
			k.Loose("pay.example", "/v1/charge", fingerprint.Fields(canon, kind))
	}
	s1, l1 := fp(`{"amount":"12.50","merchant":"M-1","nonce":"a1"}`)
	s2, l2 := fp(`{"nonce":"b2","merchant":"M-1","amount":"12.5"}`)
	fmt.Println("same strict:", s1 == s2)
	fmt.Println("same loose:", l1 == l2)
	fmt.Println(k)
	// Output:
	// same strict: false
	// same loose: true
	// fingerprint.Keyer(redacted)
}
