package sandbox

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTaxIDValid(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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

// FuzzTaxIDAnyInput feeds arbitrary strings to the sandbox's own tax-id rules: nothing panics, an accepted
// value is the normalised input, is accepted again as is and in its formatted form, is refused with a bumped
// check digit, and its mask shows only the characters the bank page may show.
func FuzzTaxIDAnyInput(f *testing.F) {
	for _, r := range Scenarios() {
		f.Add(r.TaxID)
	}
	for _, s := range []string{"", "12abc34501de35", "５29982247２5", "\x00", "52998224725\n", "AAAAAAAAAAAA00",
		"11.111.111/1111-80", "529.982.247-25.529.982.247-25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		norm, nerr := normalizeTaxID(s)
		if nerr == nil {
			for i := 0; i < len(norm); i++ {
				if c := norm[i]; !(c >= '0' && c <= '9') && !(c >= 'A' && c <= 'Z') {
					t.Fatalf("normalizeTaxID(%q) = %q keeps %q", s, norm, c)
				}
			}
			if again, err := normalizeTaxID(norm); err != nil || again != norm {
				t.Fatalf("normalizeTaxID not idempotent: %q → %q → %q, %v", s, norm, again, err)
			}
		}
		_ = maskTaxID(s)
		check := func(kind string, parse func(string) (string, error), size, visible int, format func(string) string) {
			n, err := parse(s)
			if err != nil {
				if err != errTaxID {
					t.Fatalf("%s %q: error %v, want errTaxID", kind, s, err)
				}
				return
			}
			if nerr != nil || n != norm || len(n) != size {
				t.Fatalf("%s %q accepted as %q (normalised %q, %v)", kind, s, n, norm, nerr)
			}
			for _, form := range []string{n, format(n), strings.ToLower(format(n))} {
				if again, err := parse(form); err != nil || again != n {
					t.Fatalf("%s %q: %q refused (%v)", kind, n, form, err)
				}
			}
			bad := n[:size-1] + string('0'+(n[size-1]-'0'+1)%10)
			if _, err := parse(bad); err == nil {
				t.Fatalf("%s %q: bumped check digit %q accepted", kind, n, bad)
			}
			m := maskTaxID(n)
			shown := 0
			for i := 0; i < len(m); i++ {
				if c := m[i]; (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') {
					shown++
				}
			}
			if shown != visible || strings.Contains(m, n) || !strings.Contains(m, "*") {
				t.Fatalf("%s mask %q shows %d characters, want %d", kind, m, shown, visible)
			}
		}
		check("CPF", parseCPF, 11, 6, func(n string) string {
			return n[0:3] + "." + n[3:6] + "." + n[6:9] + "-" + n[9:11]
		})
		check("CNPJ", parseCNPJ, 14, 7, func(n string) string {
			return n[0:2] + "." + n[2:5] + "." + n[5:8] + "/" + n[8:12] + "-" + n[12:14]
		})
	})
}

// FuzzTaxIDGenerated maps arbitrary bytes to a CPF base (9 digits) and a CNPJ base (12 of [0-9A-Z]), appends
// the computed check digits and checks both are accepted unless the base is one repeated character.
func FuzzTaxIDGenerated(f *testing.F) {
	f.Add([]byte("529982247"), []byte("12ABC34501DE"))
	f.Add([]byte("000000000"), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, cpfSeed, cnpjSeed []byte) {
		const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		if len(cpfSeed) >= 9 {
			b := make([]byte, 9)
			for i := range b {
				b[i] = '0' + cpfSeed[i]%10
			}
			n := string(b)
			n += string(checkDigit(n, []int{10, 9, 8, 7, 6, 5, 4, 3, 2}))
			n += string(checkDigit(n, []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2}))
			if got, err := parseCPF(n); (err == nil) == allSame(n[:9]) || (err == nil && got != n) {
				t.Fatalf("parseCPF(%q) = %q, %v", n, got, err)
			}
		}
		if len(cnpjSeed) >= 12 {
			b := make([]byte, 12)
			for i := range b {
				b[i] = alnum[int(cnpjSeed[i])%len(alnum)]
			}
			n := string(b)
			n += string(checkDigit(n, []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}))
			n += string(checkDigit(n, []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}))
			if got, err := parseCNPJ(n); (err == nil) == allSame(n[:12]) || (err == nil && got != n) {
				t.Fatalf("parseCNPJ(%q) = %q, %v", n, got, err)
			}
		}
	})
}
