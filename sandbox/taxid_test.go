package sandbox

import (
	"math/rand/v2"
	"testing"
)

func TestTaxIDValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cnpj bool
		want string
	}{
		{"52998224725", false, "52998224725"},
		{"529.982.247-25", false, "52998224725"},
		{" 529 982 247 25 ", false, "52998224725"},
		{"111.444.777-35", false, "11144477735"},
		{"11222333000181", true, "11222333000181"},
		{"11.222.333/0001-81", true, "11222333000181"},
		{"12ABC34501DE35", true, "12ABC34501DE35"},
		{"12.ABC.345/01DE-35", true, "12ABC34501DE35"},
		{"12abc34501de35", true, "12ABC34501DE35"}, // lower case accepted, upper-cased
	} {
		parse := parseCPF
		if tc.cnpj {
			parse = parseCNPJ
		}
		got, err := parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestTaxIDInvalid(t *testing.T) {
	cpfs := []string{"", "52998224724", "52998224735", "52998224752", "00000000000", "11111111111",
		"5299822472", "529982247250", "5299822472A", "529.982.247_25", "５29982247２5", "52998224725\x00", "529\n98224725"}
	for _, s := range cpfs {
		if _, err := parseCPF(s); err == nil {
			t.Errorf("CPF %q accepted", s)
		}
	}
	cnpjs := []string{"", "11222333000180", "11222333000191", "00000000000000", "AAAAAAAAAAAA00", "1122233300018",
		"112223330001811", "12ABC34501DE3A", "12ABC34501DE36", "12.ABC.345/01DE-3５", "12ABC34501DE35!"}
	for _, s := range cnpjs {
		if _, err := parseCNPJ(s); err == nil {
			t.Errorf("CNPJ %q accepted", s)
		}
	}
}

// TestTaxIDComputedDigits: random roots with computed check digits are
// always valid, and changing a check digit makes them invalid.
func TestTaxIDComputedDigits(t *testing.T) {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	r := rand.New(rand.NewPCG(1, 2))
	w1 := []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	w2 := []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	for i := 0; i < 2000; i++ {
		b := make([]byte, 12)
		for j := range b {
			b[j] = alnum[r.IntN(len(alnum))]
		}
		s := string(b)
		s += string(checkDigit(s, w1))
		s += string(checkDigit(s, w2))
		if allSame(s) {
			continue
		}
		if !validCNPJ(s) {
			t.Fatalf("%s rejected", s)
		}
		bad := []byte(s)
		bad[13] = '0' + (bad[13]-'0'+1)%10
		if validCNPJ(string(bad)) {
			t.Fatalf("%s accepted", bad)
		}
	}
}
