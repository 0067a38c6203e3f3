package mask_test

import (
	"fmt"

	"github.com/gatehouse/gatehouse/policy/mask"
)

func Example() {
	policy := []byte(`masks:
  customers:
    detectors: [email]
    replace:
      card: {keep_last: 4}
    fields:
      - name: card
        actions: ["dynamodb:GetItem", "dynamodb:Query"]
        paths: [Item.card, "Items[*].card"]
      - name: vip-note
        actions: ["dynamodb:GetItem"]
        paths: [Item.note]
        when: {tier: vip}
`)
	set, err := mask.Parse("policy.yaml", policy, mask.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := set.Profile("customers") // the name a policy rule gives in mask:
	m := p.For("dynamodb:GetItem")
	out, report, err := m.JSON([]byte(`{"Item":{"id":{"S":"c-17"},"card":{"S":"4111111111111111"},` +
		`"tier":{"S":"vip"},"note":{"S":"call bob@example.com"},"mail":{"S":"alice@example.com"}}}`))
	if err != nil {
		fmt.Println(err) // ErrMalformed: refuse the response
		return
	}
	fmt.Println(string(out))
	fmt.Println(report)
	// Output:
	// {"Item":{"id":{"S":"c-17"},"card":{"S":"****1111"},"tier":{"S":"vip"},"note":{"S":"****"},"mail":{"S":"****"}}}
	// map[card:1 email:1 vip-note:1]
}
