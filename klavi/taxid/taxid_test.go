package taxid

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// Decisions recorded by these tests:
//   - Lower-case alphanumeric CNPJs ("12abc34501de35") are accepted and upper-cased: browsers and people type
//     lower case, and the rule defines values only for upper-case letters.
//   - "12.ABC.345/01DE35" (the '-' missing) is accepted: formatting characters are stripped, never parsed, so
//     any placement or absence of '.', '/', '-' and ASCII spaces is fine. What matters is the 14 characters.
//   - An ASCII space is formatting (stripped); any other whitespace (tab, newline, NBSP) and NUL are refused.

func TestValidateValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		kind Kind
		want string
	}{
		{"52998224725", CPF, "52998224725"},
		{"529.982.247-25", CPF, "52998224725"},
		{" 529 982 247 25 ", CPF, "52998224725"},
		{"11222333000181", CNPJ, "11222333000181"},
		{"11.222.333/0001-81", CNPJ, "11222333000181"},
		{"12ABC34501DE35", CNPJ, "12ABC34501DE35"},
		{"12.ABC.345/01DE-35", CNPJ, "12ABC34501DE35"},
		{"12abc34501de35", CNPJ, "12ABC34501DE35"},              // decision: lower case accepted, upper-cased
		{"12.abc.345/01de-35", CNPJ, "12ABC34501DE35"},          // same, formatted
		{"12.ABC.345/01DE35", CNPJ, "12ABC34501DE35"},           // decision: missing '-' accepted (punctuation stripped)
		{"12-ABC-345-01DE/35", CNPJ, "12ABC34501DE35"},          // separators anywhere are just stripped
		{"00.000.000/0001-91", CNPJ, "00000000000191"},          // Banco do Brasil: leading zeros kept (TEXT, never INTEGER)
		{"000.000.001-91", CPF, "00000000191"},                  // leading zeros in a CPF
		{"33.444.555/0001-81", CNPJ, "33444555000181"},          // scenario catalogue
		{"444.555.666-19", CPF, "44455566619"},                  // scenario catalogue
		{"12 ABC 345 01 DE 35", CNPJ, "12ABC34501DE35"},         // spaces only
		{"1.2.A.B.C.3.4.5.0.1.D.E.3.5", CNPJ, "12ABC34501DE35"}, // odd but only formatting characters
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			kind, got, err := Validate(tt.in)
			if err != nil {
				t.Fatalf("Validate: unexpected error %v", err)
			}
			if kind != tt.kind || got != tt.want {
				t.Errorf("Validate = %v %q, want %v %q", kind, got, tt.kind, tt.want)
			}
			var v string
			if tt.kind == CPF {
				v, err = ValidateCPF(tt.in)
			} else {
				v, err = ValidateCNPJ(tt.in)
			}
			if err != nil || v != tt.want {
				t.Errorf("Validate%v = %q, %v; want %q, nil", tt.kind, v, err, tt.want)
			}
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		kind Kind
		want error
		// other is true when the input is valid as the other kind, so Validate (either kind) accepts it.
		other bool
	}{
		// each check digit ± 1, and swapped
		{"cpf dv1+1", "52998224735", CPF, ErrCheckDigits, false},
		{"cpf dv1-1", "52998224715", CPF, ErrCheckDigits, false},
		{"cpf dv2+1", "52998224726", CPF, ErrCheckDigits, false},
		{"cpf dv2-1", "52998224724", CPF, ErrCheckDigits, false},
		{"cpf dvs swapped", "52998224752", CPF, ErrCheckDigits, false},
		{"cnpj dv1+1", "11222333000191", CNPJ, ErrCheckDigits, false},
		{"cnpj dv1-1", "11222333000171", CNPJ, ErrCheckDigits, false},
		{"cnpj dv2+1", "11222333000182", CNPJ, ErrCheckDigits, false},
		{"cnpj dv2-1", "11222333000180", CNPJ, ErrCheckDigits, false},
		{"cnpj dvs swapped", "11222333000118", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj dv1+1", "12ABC34501DE45", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj dv1-1", "12ABC34501DE25", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj dv2+1", "12ABC34501DE36", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj dv2-1", "12ABC34501DE34", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj dvs swapped", "12ABC34501DE53", CNPJ, ErrCheckDigits, false},
		{"alnum cnpj one letter changed", "12ABD34501DE35", CNPJ, ErrCheckDigits, false},
		// repeated
		{"cpf zeros", "00000000000", CPF, ErrRepeated, false},
		{"cpf ones", "11111111111", CPF, ErrRepeated, false},
		{"cpf nines formatted", "999.999.999-99", CPF, ErrRepeated, false},
		{"cnpj zeros", "00000000000000", CNPJ, ErrRepeated, false},
		{"cnpj letters", "AAAAAAAAAAAA00", CNPJ, ErrRepeated, false},
		{"cnpj letters with their dvs", "AAAAAAAAAAAA45", CNPJ, ErrRepeated, false},
		// lengths
		{"length 10", "5299822472", 0, ErrLength, false},
		{"length 12", "529982247250", 0, ErrLength, false},
		{"length 13", "1122233300018", 0, ErrLength, false},
		{"length 15", "112223330001810", 0, ErrLength, false},
		{"cpf given 14", "11222333000181", CPF, ErrLength, true},
		{"cnpj given 11", "52998224725", CNPJ, ErrLength, true},
		{"space instead of a digit", "529982247 5", 0, ErrLength, false},
		{"very long", strings.Repeat("1", 1000), 0, ErrLength, false},
		// characters
		{"letter in a cnpj dv", "12ABC34501DE3A", CNPJ, ErrChars, false},
		{"letter in a cpf", "5299822472A", CPF, ErrChars, false},
		{"full-width digits", "１２ABC34501DE35", 0, ErrChars, false},
		{"full-width cpf", "５２９９８２２４７２５", 0, ErrChars, false},
		{"cyrillic A homoglyph", "12\u0410BC34501DE35", 0, ErrChars, false},
		{"NUL", "52998224725\x00", 0, ErrChars, false},
		{"newline", "52998224725\n", 0, ErrChars, false},
		{"CR", "529.982.247-25\r", 0, ErrChars, false},
		{"tab", "529\t98224725", 0, ErrChars, false},
		{"no-break space", "529\u00a0982.247-25", 0, ErrChars, false},
		{"other punctuation", "529,982,247-25", 0, ErrChars, false},
		{"underscore", "529_982_247_25", 0, ErrChars, false},
		{"invalid utf-8", "5299822472\xff", 0, ErrChars, false},
		// empty
		{"empty", "", 0, ErrEmpty, false},
		{"only formatting", " ..-/ ", 0, ErrEmpty, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			switch tt.kind {
			case CPF:
				_, err = ValidateCPF(tt.in)
			case CNPJ:
				_, err = ValidateCNPJ(tt.in)
			default:
				_, _, err = Validate(tt.in)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
			if tt.kind != 0 && !tt.other {
				// Validate (either kind) must refuse it too, though maybe for another reason.
				if _, _, err := Validate(tt.in); err == nil {
					t.Errorf("Validate accepted it")
				}
			}
		})
	}
}

// TestErrorsCarryNoValue guards the LGPD rule: an error text never contains what the user typed.
func TestErrorsCarryNoValue(t *testing.T) {
	t.Parallel()
	for _, err := range []error{ErrEmpty, ErrLength, ErrChars, ErrCheckDigits, ErrRepeated} {
		if strings.ContainsAny(err.Error(), "0123456789") {
			t.Errorf("sentinel %q contains a digit", err)
		}
	}
	for _, in := range []string{"52998224726", "1122233300018", "12ABC34501DE3A", "00000000000", "5299822472\n"} {
		_, _, err := Validate(in)
		if err == nil {
			t.Fatalf("Validate(%q) accepted", in)
		}
		if strings.ContainsAny(err.Error(), "0123456789") {
			t.Errorf("error %q for an invalid input leaks digits", err)
		}
	}
}

// vector is one row of testdata/vectors.txt, computed by an independent implementation.
type vector struct {
	kind, in, norm, formatted, masked string
	valid                             bool
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }() // read only
	var vs []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "\t")
		if len(c) != 6 {
			t.Fatalf("bad vector line %q", line)
		}
		vs = append(vs, vector{c[0], c[1], c[2], c[3], c[4], c[5] == "valid"})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestFrozenVectors(t *testing.T) {
	t.Parallel()
	vs := readVectors(t)
	if len(vs) < 20 {
		t.Fatalf("got %d vectors, want at least 20", len(vs))
	}
	for _, v := range vs {
		t.Run(v.in, func(t *testing.T) {
			var got string
			var err error
			if v.kind == "cpf" {
				got, err = ValidateCPF(v.in)
			} else {
				got, err = ValidateCNPJ(v.in)
			}
			if v.valid {
				if err != nil || got != v.norm {
					t.Errorf("Validate = %q, %v; want %q, nil", got, err, v.norm)
				}
			} else if !errors.Is(err, ErrCheckDigits) {
				t.Errorf("Validate error = %v, want ErrCheckDigits", err)
			}
			n, err := Normalize(v.in)
			if err != nil || n != v.norm {
				t.Errorf("Normalize = %q, %v; want %q", n, err, v.norm)
			}
			var f, m string
			if v.kind == "cpf" {
				f, m = FormatCPF(v.in), MaskCPF(v.in)
			} else {
				f, m = FormatCNPJ(v.in), MaskCNPJ(v.in)
			}
			if f != v.formatted {
				t.Errorf("Format = %q, want %q", f, v.formatted)
			}
			if m != v.masked || Mask(v.in) != v.masked {
				t.Errorf("Mask = %q / %q, want %q", m, Mask(v.in), v.masked)
			}
			// MaskText masks exactly the valid ones.
			text := `{"taxId":"` + v.in + `"}`
			want := text
			if v.valid {
				want = `{"taxId":"` + v.masked + `"}`
			}
			if got := MaskText(text); got != want {
				t.Errorf("MaskText = %q, want %q", got, want)
			}
		})
	}
}

// TestCompleteCPF: the nine base digits of every frozen CPF vector complete to that CPF when it is valid, and to
// another one when it is not; malformed bases are refused with ValidateCPF's errors.
func TestCompleteCPF(t *testing.T) {
	t.Parallel()
	n := 0
	for _, v := range readVectors(t) {
		if v.kind != "cpf" {
			continue
		}
		n++
		got, err := CompleteCPF(v.norm[:9])
		if err != nil {
			t.Errorf("CompleteCPF(%q): %v", v.norm[:9], err)
			continue
		}
		if (got == v.norm) != v.valid {
			t.Errorf("CompleteCPF(%q) = %q; the vector %q is valid: %v", v.norm[:9], got, v.norm, v.valid)
		}
		if _, err := ValidateCPF(got); err != nil {
			t.Errorf("ValidateCPF(CompleteCPF(%q) = %q): %v", v.norm[:9], got, err)
		}
	}
	if n < 5 {
		t.Fatalf("only %d CPF vectors", n)
	}
	for base, want := range map[string]error{"": ErrLength, "52998224": ErrLength, "5299822472": ErrLength,
		"52998224a": ErrChars, "529.98224": ErrChars, "777777777": ErrRepeated} {
		if got, err := CompleteCPF(base); !errors.Is(err, want) || got != "" {
			t.Errorf("CompleteCPF(%q) = %q, %v; want %v", base, got, err, want)
		}
	}
}

func TestFormatAndMask(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"FormatCPF", FormatCPF("52998224725"), "529.982.247-25"},
		{"FormatCPF formatted input", FormatCPF("529.982.247-25"), "529.982.247-25"},
		{"FormatCPF wrong length unchanged", FormatCPF("123"), "123"},
		{"FormatCNPJ", FormatCNPJ("12ABC34501DE35"), "12.ABC.345/01DE-35"},
		{"FormatCNPJ lower", FormatCNPJ("12abc34501de35"), "12.ABC.345/01DE-35"},
		{"FormatCNPJ numeric", FormatCNPJ("11222333000181"), "11.222.333/0001-81"},
		{"FormatCNPJ wrong length unchanged", FormatCNPJ("52998224725"), "52998224725"},
		{"MaskCPF", MaskCPF("52998224725"), "***.982.247-**"},
		{"MaskCPF formatted", MaskCPF("529.982.247-25"), "***.982.247-**"},
		{"MaskCPF wrong length", MaskCPF("5299822472"), "***"},
		{"MaskCPF garbage", MaskCPF("abc\n"), "***"},
		{"MaskCNPJ", MaskCNPJ("12ABC34501DE35"), "12.ABC.***/****-35"},
		{"MaskCNPJ numeric", MaskCNPJ("11.222.333/0001-81"), "11.222.***/****-81"},
		{"MaskCNPJ wrong length", MaskCNPJ("52998224725"), "***"},
		{"Mask cpf", Mask("529.982.247-25"), "***.982.247-**"},
		{"Mask cnpj", Mask("12.ABC.345/01DE-35"), "12.ABC.***/****-35"},
		{"Mask other length", Mask("123456"), "***"},
		{"Mask empty", Mask(""), "***"},
		{"Mask non-ascii", Mask("５２９９８２２４７２５"), "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestMaskText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no ids", "hello world 123", "hello world 123"},
		{"bare cpf", "52998224725", "***.982.247-**"},
		{"formatted cpf in text", "CPF 529.982.247-25.", "CPF ***.982.247-**."},
		{"partly formatted cpf", "cpf=529982247-25;", "cpf=***.982.247-**;"},
		{"numeric cnpj", "cnpj: 11.222.333/0001-81", "cnpj: 11.222.***/****-81"},
		{"bare numeric cnpj", "11222333000181", "11.222.***/****-81"},
		{"alnum cnpj", "x 12.ABC.345/01DE-35 y", "x 12.ABC.***/****-35 y"},
		{"alnum cnpj lower", "(12abc34501de35)", "(12.ABC.***/****-35)"},
		{"cnpj missing dash", "12.ABC.345/01DE35", "12.ABC.***/****-35"},
		{"json", `{"personalTaxId":"52998224725","businessTaxId":"11222333000181","n":52998224725}`,
			`{"personalTaxId":"***.982.247-**","businessTaxId":"11.222.***/****-81","n":***.982.247-**}`},
		{"several", "52998224725 and 111.444.777-35", "***.982.247-** and ***.444.777-**"},
		{"adjacent separated by comma", "52998224725,11144477735", "***.982.247-**,***.444.777-**"},
		{"invalid cpf untouched", "52998224726", "52998224726"},
		{"invalid cnpj untouched", "11.222.333/0001-82", "11.222.333/0001-82"},
		{"repeated untouched", "00000000000 11111111111", "00000000000 11111111111"},
		{"longer number untouched", "1529982247251", "1529982247251"},
		{"embedded in identifier untouched", "id52998224725x", "id52998224725x"},
		{"after a dot", "1.52998224725", "1.***.982.247-**"},
		{"amount untouched", `{"amount":"1000.0400"}`, `{"amount":"1000.0400"}`},
		{"date untouched", "2026-11-25T10:00:00Z", "2026-11-25T10:00:00Z"},
		{"non-ascii around", "à52998224725—é", "à***.982.247-**—é"},
		{"ascii letter before untouched", "ção52998224725", "ção52998224725"},
		{"full-width not matched", "５２９９８２２４７２５", "５２９９８２２４７２５"},
		{"after a raw json escape", `{"d":"PIX CPF\n52998224725\t11222333000181"}`,
			`{"d":"PIX CPF\n***.982.247-**\t11.222.***/****-81"}`},
		{"after an escaped backslash and n (over-masking is the safe side)", `a\\n52998224725`, `a\\n***.982.247-**`},
		{"truncated at end", "529.982.247-2", "529.982.247-2"},
		{"cpf inside a url path", "/consents?personalTaxId=52998224725&x=1", "/consents?personalTaxId=***.982.247-**&x=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskText(tt.in); got != tt.want {
				t.Errorf("MaskText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	if CPF.String() != "CPF" || CNPJ.String() != "CNPJ" || Kind(0).String() != "unknown" {
		t.Errorf("Kind.String: got %q %q %q", CPF, CNPJ, Kind(0))
	}
}

func BenchmarkMaskText(b *testing.B) {
	var sb strings.Builder
	for i := 0; i < 1000; i++ {
		sb.WriteString(`{"transactionId":"TX000123456789","amount":"1234.5600","partieCnpjCpf":"52998224725"},`)
	}
	s := sb.String()
	b.SetBytes(int64(len(s)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		MaskText(s)
	}
}
