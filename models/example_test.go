package models_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/halo-sec/halo/models"
)

func Example() {
	// A cohort's feature windows: connections, distinct ports, failed
	// connections per minute.
	names := []string{"conns", "distinct_ports", "failed_conns"}
	r := rand.New(rand.NewPCG(1, 2))
	var rows [][]float64
	for range 2000 {
		rows = append(rows, []float64{20 + 4*r.NormFloat64(), 3 + r.NormFloat64(), 0.5 + 0.5*r.NormFloat64()})
	}
	a, err := models.TrainIsolationForest(rows, names, models.IForestOptions{Seed: 7, FPR: 0.01})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A port scan: many connections to many ports, most of them failing.
	scan := []float64{180, 150, 140}
	scores, err := a.Score([][]float64{rows[0], scan})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("typical window flagged: %v\n", a.Flag(scores[0]))
	fmt.Printf("scan flagged: %v\n", a.Flag(scores[1]))
	why, err := a.Explain(scan)
	if err != nil {
		fmt.Println(err)
		return
	}
	top := why[0]
	fmt.Printf("most unusual: %s = %.0f, baseline %.0f\n", top.Feature, top.Value, top.Baseline)

	// The artifact is JSON; loading checks it and scores identically.
	var buf bytes.Buffer
	if err := a.Save(&buf); err != nil {
		fmt.Println(err)
		return
	}
	b, err := models.Load(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := b.Score([][]float64{scan})
	fmt.Println("same id:", a.ID == b.ID, "same score:", again[0] == scores[1])
	// Output:
	// typical window flagged: false
	// scan flagged: true
	// most unusual: distinct_ports = 150, baseline 3
	// same id: true same score: true
}
