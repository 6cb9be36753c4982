package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/klavi-demo/portal/brand"
)

// loadBrand reads the BRAND_* settings: the name, the colour and its palette (refused, with the reason, when it
// cannot carry white text at WCAG AA), the logo (a file read and checked now, or an https URL) and the help link.
// Each problem is appended to errs, naming its variable.
func loadBrand(env func(string) string, errs []error) (brand.Brand, []error) {
	b := brand.Brand{Name: env("BRAND_NAME")}
	if err := brand.CheckName(b.Name); err != nil {
		errs = append(errs, fmt.Errorf("BRAND_NAME: %w", err))
	}
	v := env("BRAND_COLOR")
	c, err := brand.ParseHex(v)
	if err != nil {
		errs = append(errs, fmt.Errorf("BRAND_COLOR: %w", err))
	} else if b.Palette, err = brand.Derive(c); err != nil {
		errs = append(errs, fmt.Errorf("BRAND_COLOR %s: %w", c.Hex(), err))
	}
	switch logo := env("BRAND_LOGO"); {
	case logo == "":
	case brand.IsURL(logo):
		if err := brand.CheckHTTPSURL(logo); err != nil {
			errs = append(errs, fmt.Errorf("BRAND_LOGO: %w (or a file path)", err))
		}
		b.LogoURL = logo
	default:
		data, mediaType, err := readLogo(logo)
		if err != nil {
			errs = append(errs, fmt.Errorf("BRAND_LOGO %s: %w", logo, err))
		}
		b.Logo, b.LogoType = data, mediaType
	}
	if u := env("BRAND_SUPPORT_URL"); u != "" {
		if err := brand.CheckHTTPSURL(u); err != nil {
			errs = append(errs, fmt.Errorf("BRAND_SUPPORT_URL: %w", err))
		}
		b.SupportURL = u
	}
	return b, errs
}

// readLogo reads a logo file, never more than one byte past the limit, and checks its type.
func readLogo(path string) ([]byte, string, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the operator's own BRAND_LOGO setting
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, "", err
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	switch {
	case err != nil:
		return nil, "", err
	case st.IsDir():
		return nil, "", errors.New("is a directory, want an image file")
	}
	data, err := io.ReadAll(io.LimitReader(f, brand.MaxLogoBytes+1))
	if err != nil {
		return nil, "", err
	}
	if len(data) > brand.MaxLogoBytes {
		return nil, "", fmt.Errorf("%d KiB, at most %d KiB", (st.Size()+1023)>>10, brand.MaxLogoBytes>>10)
	}
	mediaType, err := brand.LogoType(data)
	if err != nil {
		return nil, "", err
	}
	return data, mediaType, nil
}
