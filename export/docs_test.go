package export

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/halo-sec/halo/pipeline/features"
)

type docColumn struct{ name, arrow, duckdb string }

// documentedColumns parses the column tables of docs/export.md: under each
// "## `table`" heading, the rows of | column | pyarrow type | DuckDB type |
// meaning |. The features placeholder row (`connections` … `…`) expands to
// features.Names.
func documentedColumns(t *testing.T) map[string][]docColumn {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "export.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]docColumn{}
	table := ""
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## `"); ok {
			table = strings.TrimSuffix(h, "`")
			continue
		}
		if strings.HasPrefix(line, "## ") {
			table = ""
		}
		if table == "" || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) < 4 {
			t.Fatalf("docs/export.md: row %q has %d cells", line, len(cells))
		}
		name := strings.Trim(strings.TrimSpace(cells[0]), "`")
		arrowType, duckType := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[2])
		if first, last, ok := strings.Cut(name, "` … `"); ok {
			if first != features.Names[0] || last != features.Names[len(features.Names)-1] {
				t.Fatalf("docs/export.md: feature columns %s … %s, features.Names runs %s … %s", first, last, features.Names[0], features.Names[len(features.Names)-1])
			}
			for _, n := range features.Names {
				out[table] = append(out[table], docColumn{n, arrowType, duckType})
			}
			continue
		}
		out[table] = append(out[table], docColumn{name, arrowType, duckType})
	}
	return out
}

// TestDocsListEveryColumn keeps docs/export.md in step with the row types:
// every table is documented, with its columns in file order, then tenant
// and date.
func TestDocsListEveryColumn(t *testing.T) {
	docs := documentedColumns(t)
	files := map[string][]string{
		TableConnections:  columnsOf[Connection](),
		TableTransactions: columnsOf[Transaction](),
		TableFeatures:     FeatureColumns(),
		TableAlerts:       columnsOf[Alert](),
		TableLabels:       columnsOf[Label](),
	}
	for _, tb := range Tables {
		var got []string
		for _, c := range docs[tb] {
			got = append(got, c.name)
		}
		want := append(slices.Clone(files[tb]), "tenant", "date")
		if !slices.Equal(got, want) {
			t.Errorf("docs/export.md, table %s, documents\n%v\nthe files have\n%v", tb, got, want)
		}
	}
}
