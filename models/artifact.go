package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// Kind is the kind of model an artifact holds.
type Kind string

const (
	// KindIForest is an isolation forest trained without labels; its score
	// is an anomaly score in [0, 1].
	KindIForest Kind = "iforest"
	// KindForest is a random forest of decision trees trained on labelled
	// rows; its score is the mean over its trees of the share of positive
	// training rows in the leaf a row reaches, in [0, 1].
	KindForest Kind = "forest"
)

const (
	// FormatName is the artifact's "format" field, telling a Halo model
	// from any other JSON document.
	FormatName = "halo.model"
	// FormatVersion is the artifact format version this build writes. It
	// reads it and version 1, which differs only in where the "id" member
	// is: version 1 writes it third, after "format" and "version";
	// version 2 last, after "trees", so that the content hashed for the ID
	// and the file Save writes share all but their last bytes and seal
	// hashes them in one pass (sums).
	FormatVersion = 2
	// MaxArtifactSize bounds what Load reads.
	MaxArtifactSize = 256 << 20
)

// Window is the size of the feature windows the model was trained on; 0
// when not recorded (Artifact.WindowNs).
func (a *Artifact) Window() time.Duration { return time.Duration(a.WindowNs) }

// Span is the event-time range of the feature windows a model was trained
// on. The trainers take it from their options (the rows carry no time) and
// store it in UTC.
type Span struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Params are the training parameters an artifact was built with.
type Params struct {
	// Trees in the model.
	Trees int `json:"trees"`
	// Depth (iforest) is the depth limit of each tree.
	Depth int `json:"depth,omitempty"`
	// Sample (iforest) is ψ, the rows drawn (with replacement, as golearn
	// does) for each tree; scores are normalised by c(ψ).
	Sample int `json:"sample,omitempty"`
	// FPR (iforest) is the target false-positive rate the threshold was
	// calibrated for on the training scores.
	FPR float64 `json:"fpr,omitempty"`
	// FeaturesPerTree (forest) is the size of each tree's random feature
	// subset.
	FeaturesPerTree int `json:"features_per_tree,omitempty"`
	// Holdout (forest) is the share of rows of each class held out of
	// training to measure the model.
	Holdout float64 `json:"holdout,omitempty"`
}

// TrainMetrics describe a model on its own data.
type TrainMetrics struct {
	// Scores summarises the model's scores on its training rows.
	Scores Quantiles `json:"scores"`
	// Flagged is the share of training rows scored above the threshold
	// (iforest: at most the target FPR).
	Flagged float64 `json:"flagged"`
	// Holdout (forest) measures the model on the held-out rows.
	Holdout *Metrics `json:"holdout,omitempty"`
	// HoldoutRows (forest) is how many rows were held out.
	HoldoutRows int `json:"holdout_rows,omitempty"`
}

// Artifact is a trained model with what is needed to use and audit it:
// the features it reads, in order, with their training baselines; the
// threshold above which a score is flagged; the training span, rows and
// seed; metrics; and the trees. It is JSON (Save, Load) and its ID is the
// SHA-256 of its content, so the same training gives the same ID (and the
// same format version: FormatVersion).
//
// An Artifact returned by a trainer or Load is immutable: do not change
// its fields (Score and Explain use a compiled copy of Trees). Its methods
// are safe for concurrent use. One trained with IForestOptions.Unsealed
// has an empty ID until Seal (which Save and SaveSHA256 call): read ID
// after Seal.
type Artifact struct {
	// Format is FormatName.
	Format string `json:"format"`
	// Version is the format version: FormatVersion, or 1 for an artifact
	// Load read from a version 1 file.
	Version int `json:"version"`
	// ID is "sha256:" and the hex SHA-256 of the artifact's JSON encoding
	// with ID empty (marshalContent: the "id" member is last from version
	// 2 on, third in version 1).
	ID string `json:"id"`
	// Kind of model.
	Kind Kind `json:"kind"`
	// Features are the feature names; a row's value j is Features[j].
	Features []string `json:"features"`
	// Baselines holds each feature's training median and spread, the
	// baseline explanations compare a row with.
	Baselines []Baseline `json:"baselines"`
	// Threshold: a row is flagged when its score is above it.
	Threshold float64 `json:"threshold"`
	// Span is the event-time range of the training windows.
	Span Span `json:"span"`
	// WindowNs is the size of the feature windows the model was trained
	// on, in nanoseconds (halo models train takes it from the export): a
	// pipeline of other windows does not score with it, their counts being
	// on another scale. 0: not recorded (the pipeline's own models, which
	// are trained on its windows).
	WindowNs int64 `json:"window_ns,omitempty"`
	// Rows is how many rows the model was given (for a forest, training and
	// held-out rows together).
	Rows int `json:"rows"`
	// Seed that training was run with.
	Seed int64 `json:"seed"`
	// CreatedBy names what trained the model (a command, a pipeline).
	CreatedBy string `json:"created_by"`
	// Trainer is the golearn module version whose trees these are: golearn
	// trains a random forest's trees; an isolation forest's are the trees
	// golearn's IsolationForest grows from the seed, which Halo grows
	// itself (fitIsolation, tested against golearn).
	Trainer string `json:"trainer"`
	// Params are the training parameters.
	Params Params `json:"params"`
	// Metrics describe the model on its own data.
	Metrics TrainMetrics `json:"metrics"`
	// Trees is the model.
	Trees []Tree `json:"trees"`

	m *compiled
	// For an artifact a trainer sealed or Load read, the SHA-256 of what
	// Save writes (SaveSHA256) and the ID of its content (sealedID): Save
	// encodes the content again rather than the artifact keeping its
	// ~150 kB, which a pipeline, asking only for the hash, never writes.
	saveSum  [sha256.Size]byte
	sealedID string
	// unsealed, for an artifact trained with IForestOptions.Unsealed,
	// seals it once (Seal); nil for every other.
	unsealed *deferredSeal
}

// deferredSeal is the sealing an IForestOptions.Unsealed training left to
// the artifact's first Seal, and its outcome.
type deferredSeal struct {
	once sync.Once
	err  error
}

// contentInto returns the artifact's ID and its JSON encoding with ID
// empty, written into *buf, which keeps it (marshalContent).
func (a *Artifact) contentInto(buf *[]byte) (string, []byte, error) {
	c := a.contentCopy()
	b, err := marshalContent(&c, buf)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), b, nil
}

// contentCopy returns a copy of the artifact with ID empty and nothing
// but its exported fields: what its ID is the hash of.
func (a *Artifact) contentCopy() Artifact {
	c := *a
	c.ID = ""
	c.m = nil
	c.saveSum, c.sealedID, c.unsealed = [sha256.Size]byte{}, "", nil
	return c
}

// seal validates a freshly trained artifact, sets its ID, attaches m, the
// compiled form of its trees, and keeps the SHA-256 of what Save writes
// (sums). grown says the trees are the isolation fitter's, valid by
// construction (nodes in preorder, each a child of one node before it,
// finite splits of the feature's range, leaves without children:
// TestFitTreesAreValid checks many fits), whose check a pipeline's every
// training would pay for (over 1% of a cohort training): only their counts
// and the rest of the artifact are checked. deferred leaves the ID and
// the hash of what Save writes to the first Seal (IForestOptions.Unsealed):
// the artifact is validated and compiled all the same, so that a training
// fails where it does sealed.
func (a *Artifact) seal(m *compiled, grown, deferred bool) error {
	a.Format, a.Version = FormatName, FormatVersion
	a.Span.Start, a.Span.End = a.Span.Start.UTC(), a.Span.End.UTC()
	err := a.checkHead()
	if err == nil {
		err = a.checkTrees(!grown)
	}
	if err != nil {
		return fmt.Errorf("trained artifact is invalid: %w", err)
	}
	if deferred {
		a.m, a.unsealed = m, new(deferredSeal)
		return nil
	}
	buf := contentBufs.Get().(*[]byte)
	defer contentBufs.Put(buf)
	if err := a.sealContent(buf); err != nil {
		return fmt.Errorf("encoding artifact: %w", err)
	}
	a.m = m
	return nil
}

// Seal sets the ID of an artifact trained with IForestOptions.Unsealed,
// and keeps the SHA-256 of what Save writes, from its content: what
// training seals by default, the same ID and the same hash. The first call
// seals; later ones, concurrent or not, wait for it and return its error.
// For any other trained or loaded artifact, already sealed, it does
// nothing.
func (a *Artifact) Seal() error {
	d := a.unsealed
	if d == nil {
		return nil
	}
	d.once.Do(func() {
		buf := contentBufs.Get().(*[]byte)
		defer contentBufs.Put(buf)
		if err := a.sealContent(buf); err != nil {
			d.err = fmt.Errorf("encoding artifact: %w", err)
		}
	})
	return d.err
}

// sealContent encodes the artifact's content (into buf) and sets its ID,
// sealedID and saveSum from it.
func (a *Artifact) sealContent(buf *[]byte) error {
	c := a.contentCopy()
	b, err := marshalContent(&c, buf)
	if err != nil {
		return err
	}
	at, err := idAt(b, a.Version)
	if err != nil {
		return err
	}
	a.ID, a.saveSum = sums(b, at)
	a.sealedID = a.ID
	return nil
}

// sums returns the ID of content, encoded with an empty ID whose value
// goes at at, and the SHA-256 of what Save writes: the content with the
// ID inserted, and a newline. The two differ from at on, so the bytes
// before it are hashed once, and the digest cloned; in version 2, whose
// "id" member is last, that is all of the content but its last two bytes,
// `"}` (in version 1, the ~40 bytes before the ID: two passes).
func sums(content []byte, at int) (id string, save [sha256.Size]byte) {
	h := sha256.New()
	h.Write(content[:at])
	var g hash.Hash
	if c, ok := h.(hash.Cloner); ok {
		g, _ = c.Clone() // the standard library's SHA-256 clones without error
	}
	if g == nil { // (the FIPS 140 module v1.0.0, GOFIPS140=v1.0.0, has no Clone): hash the prefix again
		g = sha256.New()
		g.Write(content[:at])
	}
	g.Write(content[at:])
	var sum [sha256.Size]byte
	id = "sha256:" + hex.EncodeToString(g.Sum(sum[:0]))
	parts := savedParts(content, at, id)
	for _, p := range parts[1:] {
		h.Write(p)
	}
	h.Sum(save[:0])
	return id, save
}

// idAt returns where, in content of the given version encoded with an
// empty ID, the ID goes: in version 1 within the first `"id":""` (the
// member follows "format" and "version", whose values hold no unescaped
// quote), from version 2 before the content's last two bytes, `"}`.
func idAt(content []byte, version int) (int, error) {
	const empty = `"id":""`
	at := -1
	if !idLast(version) {
		at = bytes.Index(content, []byte(empty))
	} else if bytes.HasSuffix(content, []byte(`,`+empty+`}`)) {
		at = len(content) - len(empty) - 1
	}
	if at < 0 {
		return 0, fmt.Errorf("encoding artifact: no %s member", empty)
	}
	return at + len(empty) - 1, nil
}

// idLast reports whether a format version writes the "id" member last.
func idLast(version int) bool { return version >= 2 }

// savedParts returns what Save writes for a sealed artifact, in the
// pieces it writes them: the content up to the ID, the ID, the rest and
// a newline (no copy of the content with the ID in it).
func savedParts(content []byte, at int, id string) [4][]byte {
	return [4][]byte{content[:at], []byte(id), content[at:], []byte("\n")}
}

// sealedContent returns the content of a sealed artifact as seal or Load
// hashed it (held in buf), and where its ID goes. A trained or loaded
// artifact is not to be changed: one whose content no longer has its ID
// is an error (Save wrote the content as sealed when it kept it;
// SaveSHA256 still hashes that).
func (a *Artifact) sealedContent(buf *[]byte) (content []byte, at int, err error) {
	id, b, err := a.contentInto(buf)
	if err != nil {
		return nil, 0, fmt.Errorf("encoding artifact: %w", err)
	}
	if id != a.sealedID || a.ID != a.sealedID {
		return nil, 0, errors.New("models: Save of an artifact changed since its training or loading")
	}
	at, err = idAt(b, a.Version)
	return b, at, err
}

// Save writes the artifact as one line of JSON: its content, members in
// the order of its format version (marshalContent; version 1 as
// encoding/json encodes an Artifact), the ID in it, and a newline.
func (a *Artifact) Save(w io.Writer) error {
	if a != nil {
		if err := a.Seal(); err != nil {
			return err
		}
	}
	if a == nil || a.m == nil || a.sealedID == "" {
		return errors.New("models: Save of an artifact that was not trained or loaded")
	}
	buf := contentBufs.Get().(*[]byte)
	defer contentBufs.Put(buf)
	b, at, err := a.sealedContent(buf)
	if err != nil {
		return err
	}
	for _, p := range savedParts(b, at, a.ID) {
		if _, err := w.Write(p); err != nil {
			return fmt.Errorf("writing model artifact: %w", err)
		}
	}
	return nil
}

// SaveSHA256 returns the SHA-256 of what Save writes (what a
// model.deployed event records), kept since the artifact's training or
// loading (or its Seal, for one trained unsealed).
func (a *Artifact) SaveSHA256() ([sha256.Size]byte, error) {
	if a != nil {
		if err := a.Seal(); err != nil {
			return [sha256.Size]byte{}, err
		}
	}
	if a == nil || a.m == nil || a.sealedID == "" {
		return [sha256.Size]byte{}, errors.New("models: SaveSHA256 of an artifact that was not trained or loaded")
	}
	return a.saveSum, nil
}

// Load reads an artifact written by Save, of format version 1 or 2, and
// checks it: ErrForeign for data that is not a Halo model artifact,
// ErrVersion for another format version, ErrCorrupt for a damaged or
// altered one (including an ID that does not match the content, encoded
// in the member order of its version).
func Load(r io.Reader) (*Artifact, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxArtifactSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading model artifact: %w", err)
	}
	if len(data) > MaxArtifactSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, MaxArtifactSize)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrForeign)
	}
	var head struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		// Valid JSON whose "format" or "version" has another type.
		if !bytes.Contains(data, []byte(`"`+FormatName+`"`)) {
			return nil, fmt.Errorf("%w: %v", ErrForeign, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if head.Format != FormatName {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrForeign, head.Format, FormatName)
	}
	if head.Version != 1 && head.Version != FormatVersion {
		return nil, fmt.Errorf("%w: version %d, this build reads versions 1 and %d", ErrVersion, head.Version, FormatVersion)
	}
	a := new(Artifact)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the artifact", ErrCorrupt)
	}
	if err := a.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	id := a.ID
	buf := contentBufs.Get().(*[]byte)
	err = a.sealContent(buf) // sets a.ID from the content
	contentBufs.Put(buf)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if id != a.ID {
		return nil, fmt.Errorf("%w: id %q does not match its content (%s): the file was altered", ErrCorrupt, id, a.ID)
	}
	a.m = compile(a.Kind, len(a.Features), a.Trees, a.Params.Sample)
	return a, nil
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// check validates everything but the ID.
func (a *Artifact) check() error {
	if err := a.checkHead(); err != nil {
		return err
	}
	return a.checkTrees(true)
}

// checkHead validates everything but the ID and the trees' nodes (their
// count is checked).
func (a *Artifact) checkHead() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	forest := false
	switch a.Kind {
	case KindIForest:
	case KindForest:
		forest = true
	default:
		bad("unknown kind %q", a.Kind)
	}
	if err := checkNames(a.Features); err != nil {
		bad("features: %v", strings.TrimPrefix(err.Error(), ErrInput.Error()+": "))
	}
	width := len(a.Features)
	if len(a.Baselines) != width {
		bad("%d baselines for %d features", len(a.Baselines), width)
	}
	for j, b := range a.Baselines {
		if !finite(b.Median, b.MAD, b.Scale) || b.MAD < 0 || b.Scale <= 0 {
			bad("baseline %d: median %v, mad %v, scale %v", j, b.Median, b.MAD, b.Scale)
		}
	}
	if !finite(a.Threshold) {
		bad("threshold is not finite")
	}
	if !a.Span.Start.IsZero() && a.Span.End.Before(a.Span.Start) {
		bad("span ends (%s) before it starts (%s)", a.Span.End, a.Span.Start)
	}
	if a.WindowNs < 0 {
		bad("window_ns %d is negative", a.WindowNs)
	}
	if a.Rows < MinRows {
		bad("%d rows, at least %d", a.Rows, MinRows)
	}
	p := a.Params
	if p.Trees < 1 || p.Trees > maxTrees || p.Trees != len(a.Trees) {
		bad("params say %d trees, the model has %d (1..%d)", p.Trees, len(a.Trees), maxTrees)
	}
	if forest {
		if p.FeaturesPerTree < 1 || p.FeaturesPerTree > width {
			bad("features per tree %d outside [1, %d]", p.FeaturesPerTree, width)
		}
		if !(p.Holdout > 0 && p.Holdout <= 0.5) {
			bad("holdout %v outside (0, 0.5]", p.Holdout)
		}
		if p.Depth != 0 || p.Sample != 0 || p.FPR != 0 {
			bad("forest with isolation forest parameters")
		}
	} else {
		if p.Depth < 1 || p.Depth > 64 {
			bad("depth %d outside [1, 64]", p.Depth)
		}
		if p.Sample < 2 || p.Sample > 1<<24 {
			bad("sample %d outside [2, 2^24]", p.Sample)
		}
		if !(p.FPR > 0 && p.FPR <= 0.5) {
			bad("fpr %v outside (0, 0.5]", p.FPR)
		}
		if p.FeaturesPerTree != 0 || p.Holdout != 0 {
			bad("isolation forest with forest parameters")
		}
	}
	q := a.Metrics.Scores
	if !finite(q.Min, q.P50, q.P90, q.P99, q.P999, q.Max, a.Metrics.Flagged) {
		bad("metrics are not finite")
	}
	if h := a.Metrics.Holdout; h != nil && !finite(h.ROCAUC, h.PRAUC, h.Precision, h.Recall) {
		bad("holdout metrics are not finite")
	}
	return errors.Join(errs...)
}

// checkTrees validates the trees' nodes (nodes false: only their counts,
// which a fit of a large sample and depth can exceed), once checkHead has
// passed.
func (a *Artifact) checkTrees(nodes bool) error {
	width, forest := len(a.Features), a.Kind == KindForest
	total := 0
	var parents []int32
	for i := range a.Trees {
		t := &a.Trees[i]
		var err error
		if nodes {
			parents, err = t.checkWith(width, forest, parents)
		} else if n := t.len(); n > maxTreeNodes {
			err = fmt.Errorf("%d nodes, at most %d", n, maxTreeNodes) // as checkWith
		}
		if err != nil {
			return fmt.Errorf("tree %d: %w", i, err)
		}
		total += t.len()
		if total > maxNodes {
			return fmt.Errorf("more than %d nodes", maxNodes)
		}
	}
	return nil
}

// Flag reports whether score is above the artifact's threshold.
func (a *Artifact) Flag(score float64) bool { return score > a.Threshold }
