package taxid

import (
	"strings"
	"testing"
)

const alnum36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

// FuzzGeneratedCNPJ maps arbitrary bytes to a base in [0-9A-Z]{12}, appends the computed check digits and
// checks the result is always accepted (unless its base is one repeated character), in every written form,
// and that Format/Normalize/Mask/MaskText agree. Seeds: testdata/fuzz/FuzzGeneratedCNPJ.
func FuzzGeneratedCNPJ(f *testing.F) {
	f.Add([]byte("12ABC34501DE"))
	f.Add([]byte("112223330001"))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, seed []byte) {
		if len(seed) < 12 {
			return
		}
		base := make([]byte, 12)
		for i := range base {
			base[i] = alnum36[int(seed[i])%len(alnum36)]
		}
		n := string(base) + cnpjCheckDigits(string(base))
		got, err := ValidateCNPJ(n)
		if allSame(string(base)) {
			if err != ErrRepeated {
				t.Fatalf("repeated base: got %v, want ErrRepeated", err)
			}
			return
		}
		if err != nil || got != n {
			t.Fatalf("ValidateCNPJ(generated) = %q, %v", got, err)
		}
		formatted := FormatCNPJ(n)
		if back, err := Normalize(formatted); err != nil || back != n {
			t.Fatalf("Normalize(Format(n)) = %q, %v; want %q", back, err, n)
		}
		if got, err := ValidateCNPJ(strings.ToLower(formatted)); err != nil || got != n {
			t.Fatalf("lower-case formatted: %q, %v", got, err)
		}
		if got := MaskText("a " + formatted + " b"); got != "a "+MaskCNPJ(n)+" b" {
			t.Fatalf("MaskText(formatted) = %q", got)
		}
		if got := MaskText(`"` + n + `"`); got != `"`+MaskCNPJ(n)+`"` {
			t.Fatalf("MaskText(bare) = %q", got)
		}
		// Any change to one check digit must be caught (mod 11 misses some base changes, never a DV change).
		bad := n[:13] + string('0'+(n[13]-'0'+1)%10)
		if _, err := ValidateCNPJ(bad); err != ErrCheckDigits {
			t.Fatalf("bumped DV accepted: %v", err)
		}
	})
}

// FuzzGeneratedCPF does the same for CPFs from a 9-digit base.
func FuzzGeneratedCPF(f *testing.F) {
	f.Add([]byte("529982247"))
	f.Add([]byte("000000001"))
	f.Fuzz(func(t *testing.T, seed []byte) {
		if len(seed) < 9 {
			return
		}
		base := make([]byte, 9)
		for i := range base {
			base[i] = '0' + seed[i]%10
		}
		n := string(base) + cpfCheckDigits(string(base))
		got, err := ValidateCPF(n)
		completed, cerr := CompleteCPF(string(base))
		if allSame(string(base)) {
			if err != ErrRepeated || cerr != ErrRepeated {
				t.Fatalf("repeated base: got %v and %v", err, cerr)
			}
			return
		}
		if cerr != nil || completed != n {
			t.Fatalf("CompleteCPF = %q, %v; want %q", completed, cerr, n)
		}
		if err != nil || got != n {
			t.Fatalf("ValidateCPF(generated) = %q, %v", got, err)
		}
		if back, err := Normalize(FormatCPF(n)); err != nil || back != n {
			t.Fatalf("Normalize(Format(n)) = %q, %v", back, err)
		}
		if got := MaskText("cpf:" + FormatCPF(n)); got != "cpf:"+MaskCPF(n) {
			t.Fatalf("MaskText = %q", got)
		}
	})
}

// FuzzAnyInput feeds arbitrary strings to every function: no panics, accepted values round-trip, errors are
// sentinels, and MaskText never leaves a valid id standing where it found one on its own.
func FuzzAnyInput(f *testing.F) {
	for _, s := range []string{"", "529.982.247-25", "12.abc.345/01de-35", "１２ABC34501DE35", "\x00", "a52998224725",
		`{"taxId":"11222333000181"}`, "529.982.247-25.529.982.247-25"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, n, err := Validate(s)
		if err != nil {
			switch err {
			case ErrEmpty, ErrLength, ErrChars, ErrCheckDigits, ErrRepeated:
			default:
				t.Fatalf("non-sentinel error %v", err)
			}
		} else {
			var formatted string
			if kind == CPF {
				formatted = FormatCPF(n)
			} else {
				formatted = FormatCNPJ(n)
			}
			if back, err := Normalize(formatted); err != nil || back != n {
				t.Fatalf("round trip: %q → %q → %q, %v", s, formatted, back, err)
			}
			if _, n2, err := Validate(formatted); err != nil || n2 != n {
				t.Fatalf("formatted form refused: %v", err)
			}
			if m := Mask(n); m == "***" || strings.Contains(m, n) {
				t.Fatalf("Mask(%q) = %q", n, m)
			}
			if got := MaskText(" " + formatted + " "); got != " "+Mask(n)+" " {
				t.Fatalf("MaskText(%q) = %q", formatted, got)
			}
		}
		_ = FormatCPF(s)
		_ = FormatCNPJ(s)
		_ = MaskCPF(s)
		_ = MaskCNPJ(s)
		out := MaskText(s)
		// Masking is idempotent: a mask contains '*', which can never be part of an id.
		if again := MaskText(out); again != out {
			t.Fatalf("MaskText not idempotent: %q → %q → %q", s, out, again)
		}
	})
}
