package models

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ErrFeatureSet is returned for an export that holds no usable feature
// windows.
var ErrFeatureSet = errors.New("not a usable features export")

// FeatureSet is the features table of a Parquet export (halo export):
// one row per device window, with its label when one covers it.
type FeatureSet struct {
	Names     []string    // feature columns, in Rows' order
	Rows      [][]float64 // one feature vector per window
	Malicious []bool      // a malicious label covers the window
	Labels    []string    // the covering label's name ("" when none)
	Devices   []string
	Files     int
}

// ReadFeatureSet reads every Parquet file of the features dataset of an
// export (dir is the export's root or its features directory), in path
// order, keeping the feature columns names (nil: the file metadata's
// halo.features, i.e. every feature).
func ReadFeatureSet(ctx context.Context, dir string, names []string) (*FeatureSet, error) {
	root := dir
	if st, err := os.Stat(filepath.Join(dir, "features")); err == nil && st.IsDir() {
		root = filepath.Join(dir, "features")
	}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != root {
			return filepath.SkipDir // an interrupted export's temporary files
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".parquet") {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no Parquet files under %s (write them with: halo export --tables features --out DIR)", ErrFeatureSet, root)
	}
	slices.Sort(paths)
	fset := &FeatureSet{Names: slices.Clone(names)}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fset.readFile(ctx, p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		fset.Files++
	}
	if len(fset.Rows) == 0 {
		return nil, fmt.Errorf("%w: the features table under %s has no rows", ErrFeatureSet, root)
	}
	return fset, nil
}

func (fset *FeatureSet) readFile(ctx context.Context, path string) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return err
	}
	defer pf.Close()
	if fset.Names == nil {
		if v := pf.MetaData().KeyValueMetadata().FindValue("halo.features"); v != nil && *v != "" {
			fset.Names = strings.Split(*v, ",")
		} else {
			return fmt.Errorf("%w: no halo.features metadata: not a halo export's features file", ErrFeatureSet)
		}
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: 64 << 10}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return err
	}
	defer tbl.Release()
	col := func(name string) (*arrow.Chunked, error) {
		idx := tbl.Schema().FieldIndices(name)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%w: no column %q", ErrFeatureSet, name)
		}
		return tbl.Column(idx[0]).Data(), nil
	}
	n := int(tbl.NumRows())
	base := len(fset.Rows)
	for range n {
		fset.Rows = append(fset.Rows, make([]float64, len(fset.Names)))
	}
	for j, name := range fset.Names {
		c, err := col(name)
		if err != nil {
			return err
		}
		i := base
		for _, ch := range c.Chunks() {
			a, ok := ch.(*array.Float64)
			if !ok {
				return fmt.Errorf("%w: column %q is %s, not double", ErrFeatureSet, name, ch.DataType())
			}
			for k := 0; k < a.Len(); k++ {
				fset.Rows[i][j] = a.Value(k)
				i++
			}
		}
	}
	mal, err := col("malicious")
	if err != nil {
		return err
	}
	for _, ch := range mal.Chunks() {
		a, ok := ch.(*array.Boolean)
		if !ok {
			return fmt.Errorf("%w: column malicious is %s, not bool", ErrFeatureSet, ch.DataType())
		}
		for k := 0; k < a.Len(); k++ {
			fset.Malicious = append(fset.Malicious, a.IsValid(k) && a.Value(k))
		}
	}
	for _, spec := range []struct {
		name string
		dst  *[]string
	}{{"label", &fset.Labels}, {"device", &fset.Devices}} {
		c, err := col(spec.name)
		if err != nil {
			return err
		}
		for _, ch := range c.Chunks() {
			for k := 0; k < ch.Len(); k++ {
				v := ""
				if ch.IsValid(k) {
					switch a := ch.(type) {
					case *array.String:
						v = a.Value(k)
					case *array.Dictionary:
						v = a.Dictionary().(*array.String).Value(a.GetValueIndex(k))
					default:
						return fmt.Errorf("%w: column %s is %s, not a string", ErrFeatureSet, spec.name, ch.DataType())
					}
				}
				*spec.dst = append(*spec.dst, v)
			}
		}
	}
	if len(fset.Malicious) != len(fset.Rows) || len(fset.Labels) != len(fset.Rows) || len(fset.Devices) != len(fset.Rows) {
		return fmt.Errorf("%w: columns of different lengths", ErrFeatureSet)
	}
	return nil
}
