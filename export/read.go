package export

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	pgo "github.com/parquet-go/parquet-go"

	"github.com/halo-sec/halo/pipeline/features"
)

// ErrFormat is returned for a file that is not a features file of this
// schema version and feature list.
var ErrFormat = errors.New("not a halo export features file")

// ReadFeatures reads the features table of the export in dir (OUTDIR), all
// tenants or, when tenant is set, that tenant's partitions only, in
// (tenant, date, file, row) order: the rows a model is trained on. Every
// file must be a features file of this SchemaVersion whose feature columns
// are this build's features.Names, in order; a corrupt file is an error
// naming it, never a panic.
func ReadFeatures(dir, tenant string) ([]FeatureRow, error) {
	pattern := filepath.Join(dir, TableFeatures, "tenant=*", "date=*", "part-*.parquet")
	if tenant != "" {
		pattern = filepath.Join(dir, TableFeatures, "tenant="+tenant, "date=*", "part-*.parquet")
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, TableFeatures)); err != nil {
		return nil, fmt.Errorf("reading the features of %s: %w", dir, err)
	}
	slices.SortFunc(files, comparePartFiles)
	var out []FeatureRow
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, TableFeatures), f)
		ten, _, _ := strings.Cut(strings.TrimPrefix(filepath.ToSlash(rel), "tenant="), "/")
		if out, err = readFeatureFile(out, b, ten); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	return out, nil
}

// comparePartFiles orders paths by directory, then by part number.
func comparePartFiles(a, b string) int {
	if c := strings.Compare(filepath.Dir(a), filepath.Dir(b)); c != 0 {
		return c
	}
	na, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(a), "part-"), ".parquet"))
	nb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(b), "part-"), ".parquet"))
	return na - nb
}

// readFeatureFile appends the rows of one features file (its bytes) to out.
// parquet-go panics on some corrupt inputs: the panic becomes an error.
func readFeatureFile(out []FeatureRow, b []byte, tenant string) (rows []FeatureRow, err error) {
	defer func() {
		if r := recover(); r != nil {
			rows, err = out, fmt.Errorf("%w: corrupt Parquet: %v", ErrFormat, r)
		}
	}()
	if err := checkFooter(b); err != nil {
		return out, err
	}
	// Halo reads the pages in order: it needs neither the page index nor
	// bloom filters (it writes none), whose stated sizes parquet-go would
	// allocate on opening the file.
	f, err := pgo.OpenFile(bytes.NewReader(b), int64(len(b)), pgo.SkipPageIndex(true), pgo.SkipBloomFilters(true))
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if v, _ := f.Lookup("halo.table"); v != TableFeatures {
		return out, fmt.Errorf("%w: halo.table is %q", ErrFormat, v)
	}
	if v, _ := f.Lookup("halo.schema_version"); v != strconv.Itoa(SchemaVersion) {
		return out, fmt.Errorf("%w: schema version %q, this build reads %d", ErrFormat, v, SchemaVersion)
	}
	if v, _ := f.Lookup("halo.features"); v != strings.Join(features.Names, ",") {
		return out, fmt.Errorf("%w: features %q, this build computes %s", ErrFormat, v, strings.Join(features.Names, ","))
	}
	if err := checkChunks(f.Metadata(), b); err != nil {
		return out, err
	}
	r := pgo.NewReader(f)
	defer r.Close()
	nf := len(features.Names)
	ptr := reflect.New(featureType)
	v := ptr.Elem()
	for {
		v.SetZero()
		if err := r.Read(ptr.Interface()); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("%w: %w", ErrFormat, err)
		}
		row := FeatureRow{Tenant: tenant, Device: v.Field(0).String(), Cohort: v.Field(1).String(), Start: v.Field(2).Int(), End: v.Field(3).Int(),
			Values: make([]float64, nf), Malicious: v.Field(6 + nf).Bool()}
		for j := range nf {
			row.Values[j] = v.Field(4 + j).Float()
		}
		row.Score, _ = v.Field(4 + nf).Interface().(*float64)
		row.Threshold, _ = v.Field(5 + nf).Interface().(*float64)
		row.Label, _ = v.Field(7 + nf).Interface().(*string)
		out = append(out, row)
	}
}
