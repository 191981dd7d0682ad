package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"testing"
)

// pinCases are trainings whose artifacts TestTrainPinned pins: the four
// shapes of fitFixtures (the Zeek cohort's rows among them), a cohort's
// first training on few rows, a zeek prefix whose rows repeat, and rows
// holding -0 beside 0 (equal values with other bits).
func pinCases() []struct {
	name string
	rows [][]float64
	opts IForestOptions
} {
	type pc = struct {
		name string
		rows [][]float64
		opts IForestOptions
	}
	var out []pc
	for _, f := range fitFixtures() {
		out = append(out, pc{f.name, f.rows, IForestOptions{Seed: 42, FPR: 0.005}})
	}
	zeek := zeekCohortRows()
	out = append(out,
		pc{"zeek-64", zeek[:64], IForestOptions{Seed: 7, FPR: 0.01}},
		pc{"zeek-700-depth12", zeek[:700], IForestOptions{Seed: -3, FPR: 0.05, Depth: 12, Trees: 37, Sample: 300}},
	)
	signed := make([][]float64, 300)
	for i := range signed {
		r := make([]float64, 6)
		for j := range r {
			switch v := (i*(j+7) + j) % (j + 3); {
			case v == 0 && i%2 == 1:
				r[j] = math.Copysign(0, -1)
			default:
				r[j] = float64(v) * 0.25
			}
		}
		signed[i] = r
	}
	out = append(out, pc{"signed-zeros", signed, IForestOptions{Seed: 5, FPR: 0.02, Trees: 20}})
	return out
}

// poisonTrainBufs puts into the pool of training buffers one whose values
// are NaN (a training reusing it must set every value it reads).
func poisonTrainBufs() {
	b := &trainBuf{cols: make([]float64, 100_000), ucols: make([]float64, 100_000)}
	for i := range b.cols {
		b.cols[i], b.ucols[i] = math.NaN(), math.NaN()
	}
	trainBufs.Put(b)
}

// TestTrainPinned pins the artifacts the trainer produces (their IDs, the
// SHA-256 of what Save writes, the threshold's bits) to those of the code
// they were recorded with: a faster trainer must produce the same bytes,
// on one goroutine (Serial) as on several, with recycled buffers. Each is
// pinned as format version 2 writes it and as version 1 did (the pins of
// version 1 are older than version 2: its content did not change).
func TestTrainPinned(t *testing.T) {
	want := map[string]string{ // recorded at perf12-seal2's format version 2
		"continuous":       "sha256:1470ee37f76f93cd637bb6ff2f9ceb9c1ed42d8c4a7d94b941962c30c392b07c 6e7a82c0c7d458355014dc29aa0afaddefaa0b860141ec6a739d037006c0c4be 3fe2c851db9fa7ec",
		"ties":             "sha256:d015e7fd2c9b38a986fbfcda375ab799d11a8378f32b76eaaf2c4c1cf52f90b7 cf741862caa21bfdecfb65248a969981b55fdaf069d264d1fc2392547ddf6e4a 3fe2e50fd873b776",
		"sparse":           "sha256:f16d63e1b707df8e49b70e26293c851939fe3a3d307f687a877a3f9157ad4634 5a8f20ffde02c677b7b44c504cbab0e45c82319c949f2f992821b164f82ceb29 3fe6485d2dd8d5e0",
		"zeek":             "sha256:5f9aa2562f7ea48f94f525c4fbd0f53006f50b4e24f2a67c57bfe8787c12b7fb 5e1a5a7b16e9bbbd89b0f5477653cdab6759656bd14b03cb0165a378b75eac22 3fe6da87fc5f0f6f",
		"zeek-64":          "sha256:2e9d654c2901b7f376bea7dd7c5aa31101dab4902af6fed2dc5e2701be27c82a 67805bada43401068b381e9ae5669f4f86cfb83d6e996a011cf9b10ac9b2ae9b 3fe71ee62b4f0173",
		"zeek-700-depth12": "sha256:78632c4adcd309658af6a17f6f9e6c131e4b9cab919d75c640ed9b03e3a864f6 a176bed4b052baa45a70f5ba387509db502d63d29ee529df131e44090e0f72ed 3fe10193d79133f0",
		"signed-zeros":     "sha256:2a281b1ba2fe791b4a26c6b63079bc752e88fded3290f25622633588cc6ff3c0 69d389d78af4d0edd76e91b8f44907ac52548afd87b8a919b2df041b0cd391c8 3fe4682d6b202f88",
	}
	// The same artifacts sealed as version 1: what main wrote until
	// format version 2 (the trainer's content unchanged).
	wantV1 := map[string]string{ // recorded at main 13fd412
		"continuous":       "sha256:65169185ea511516c0276c5d713af662d62f6e91fd90dc7fb90b26d20c1e078e 622c79da9e5dfd0dea255e9914b4b62cb4b9df255482b7112db750212b849434 3fe2c851db9fa7ec",
		"ties":             "sha256:b16d726982d9f2de7665006fa672c3f97628c0c62d4b83e6394415cd1d0eb554 c0383b6630071c048ae04b3b590e3bae17b06d7a667a7a05aae0ce39f0425d78 3fe2e50fd873b776",
		"sparse":           "sha256:c3f10415e92bf8a6f96deb8b1d655ac31fb80c38c499bf7d815544a4d37bce50 3dbc1a3ea444f887d3051b4ca1f242f1c4114b392e89f37cb832c53d87979580 3fe6485d2dd8d5e0",
		"zeek":             "sha256:c3d61859ae96b1c31a67bff9f025af07363ca93922331684241186777e60b3a7 0bdf4fee5b296a6b3fb3ef8638252ba871628a91c0298920b5ac3f57a8cf46fd 3fe6da87fc5f0f6f",
		"zeek-64":          "sha256:35af30e468c170dd5f1f70726dccb09b8c13f32086c871e28d8680254c443b07 0134befcd79e8050da9a8618d5e5f7a365f7d737e990ab7f667b1b8c5c903375 3fe71ee62b4f0173",
		"zeek-700-depth12": "sha256:5ba760982f2c725b169367e25d8f43a000627b520627fd2fc2fe175d1a24e81f d495b5fe51861ebd05c7501b9ca3c2b1b00cd30b3a2077180e5d5f4326493b20 3fe10193d79133f0",
		"signed-zeros":     "sha256:b080d41ab4e56d11054db792cc9aeaf5c1215dfa785293b5759b04be9e85abe4 ee1913e94704fdbd4ff80dfe49d75b9b56db5a7a5e255f84e3ef66fe217c0531 3fe4682d6b202f88",
	}
	for _, c := range pinCases() {
		names := make([]string, len(c.rows[0]))
		for j := range names {
			names[j] = fmt.Sprintf("f%02d", j)
		}
		for _, serial := range []bool{false, true} {
			opts := c.opts
			opts.Serial = serial
			poisonTrainBufs()
			a, err := TrainIsolationForest(c.rows, names, opts)
			if err != nil {
				t.Fatal(err)
			}
			sum, err := a.SaveSHA256()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := a.Save(&buf); err != nil {
				t.Fatal(err)
			}
			if got := sha256.Sum256(buf.Bytes()); got != sum {
				t.Errorf("%s: SaveSHA256 %x, SHA-256 of Save %x", c.name, sum, got)
			}
			got := fmt.Sprintf("%s %s %016x", a.ID, hex.EncodeToString(sum[:]), math.Float64bits(a.Threshold))
			if w, ok := want[c.name]; !ok || w != got {
				t.Errorf("%s (serial %v): got %s, want %s", c.name, serial, got, w)
			}
			v1 := *a
			v1.Version = 1
			if err := v1.sealContent(new([]byte)); err != nil {
				t.Fatal(err)
			}
			got = fmt.Sprintf("%s %s %016x", v1.ID, hex.EncodeToString(v1.saveSum[:]), math.Float64bits(v1.Threshold))
			if w, ok := wantV1[c.name]; !ok || w != got {
				t.Errorf("%s (serial %v) as version 1: got %s, want %s", c.name, serial, got, w)
			}
		}
	}
}

// TestVersion1Pinned pins the version 1 fixtures: their IDs, and the
// SHA-256 of the files (which SaveSHA256 gives once loaded).
func TestVersion1Pinned(t *testing.T) {
	for file, want := range map[string]string{ // written at main dde4626
		"v1-iforest.json": "sha256:85f4b831a65333f9d68a83433033e7e609b7835a4a9c97ee30dc3ab862b29663 44a9494eafd4e26dad99de3f1c3e911b2137e104d31e3f912b28cabbfe0df18b",
		"v1-forest.json":  "sha256:61d592690fa8c89f6ffb72177e98fcf13cdeb69c9007800b73de39058e881ac0 88d026dd503d852aab4fcacaaab0f784b2ce60c0f585ed1af7cba5746784d7aa",
	} {
		a := loadFixture(t, file)
		sum, err := a.SaveSHA256()
		if err != nil {
			t.Fatal(err)
		}
		if got := a.ID + " " + hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s: got %s, want %s", file, got, want)
		}
		if file := sha256.Sum256(readFixture(t, file)); file != sum {
			t.Errorf("the file's SHA-256 %x, SaveSHA256 %x", file, sum)
		}
	}
}
