#!/usr/bin/env python3
"""Independent generator for vectors.txt (run once by hand: python3 gen_vectors.py > vectors.txt).

Written separately from the Go code, straight from the published rules (Receita Federal; IN RFB 2.229/2024 and
the SERPRO note on the alphanumeric CNPJ): character value = ord(c) - 48, modulo 11, remainder < 2 -> 0.
The Go tests only read vectors.txt; this script is kept so the file can be audited or regenerated.
"""
import random

def dv(values, weights):
    r = sum(v * w for v, w in zip(values, weights)) % 11
    return 0 if r < 2 else 11 - r

def cpf_dvs(base9):
    vals = [int(c) for c in base9]
    d1 = dv(vals, range(10, 1, -1))
    d2 = dv(vals + [d1], range(11, 1, -1))
    return f"{d1}{d2}"

def cnpj_dvs(base12):
    vals = [ord(c) - 48 for c in base12]
    d1 = dv(vals, [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    d2 = dv(vals + [d1], [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2])
    return f"{d1}{d2}"

def fmt_cpf(n): return f"{n[0:3]}.{n[3:6]}.{n[6:9]}-{n[9:11]}"
def fmt_cnpj(n): return f"{n[0:2]}.{n[2:5]}.{n[5:8]}/{n[8:12]}-{n[12:14]}"
def mask_cpf(n): return f"***.{n[3:6]}.{n[6:9]}-**"
def mask_cnpj(n): return f"{n[0:2]}.{n[2:5]}.***/****-{n[12:14]}"

rows = []
def cpf(base9, formatted, valid=True):
    n = base9 + cpf_dvs(base9)
    if not valid:  # bump the last check digit: a near miss
        n = n[:10] + str((int(n[10]) + 1) % 10)
    rows.append(("cpf", fmt_cpf(n) if formatted else n, n, fmt_cpf(n), mask_cpf(n), "valid" if valid else "invalid"))

def cnpj(base12, formatted, valid=True, lower=False):
    n = base12 + cnpj_dvs(base12)
    if not valid:
        n = n[:13] + str((int(n[13]) + 1) % 10)
    inp = fmt_cnpj(n) if formatted else n
    if lower:
        inp = inp.lower()
    rows.append(("cnpj", inp, n, fmt_cnpj(n), mask_cnpj(n), "valid" if valid else "invalid"))

# Published examples first.
cpf("529982247", True); cpf("529982247", False)
cnpj("112223330001", True); cnpj("112223330001", False)
cnpj("12ABC34501DE", True); cnpj("12ABC34501DE", False); cnpj("12ABC34501DE", False, lower=True)
# Scenario catalogue tax ids (CONTRACT.md).
for b in ["111444777", "222333444", "333444555", "444555666", "555666777", "666777888", "777888999",
          "888999000", "123123123", "321321321"]:
    cpf(b, True)
cnpj("334445550001", True)

rng = random.Random(20261125)
alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
for i in range(8):
    cpf("".join(rng.choice("0123456789") for _ in range(9)), i % 2 == 0)
for i in range(5):
    cnpj("".join(rng.choice("0123456789") for _ in range(8)) + "0001", i % 2 == 0)
for i in range(8):
    cnpj("".join(rng.choice(alnum) for _ in range(12)), i % 2 == 1)
for i in range(3):
    cpf("".join(rng.choice("0123456789") for _ in range(9)), True, valid=False)
    cnpj("".join(rng.choice(alnum) for _ in range(12)), True, valid=False)

print("# CPF/CNPJ vectors computed by an independent Python implementation (testdata/gen_vectors.py, run once).")
print("# Do not edit by hand. Columns (tab separated): kind input normalised formatted masked validity.")
print("# 'invalid' rows have the last check digit bumped by one; normalised/formatted/masked still describe them.")
for r in rows:
    print("\t".join(r))
