package models

import "errors"

var (
	// ErrInput is returned for training or scoring input that cannot be
	// used: no rows, ragged rows, a NaN or ±Inf value, too few rows, feature
	// names that are empty, duplicated or do not match the row width, or
	// labels that do not match the rows. The wrapping error names the row
	// and feature.
	ErrInput = errors.New("invalid model input")
	// ErrOptions is returned for training options out of range.
	ErrOptions = errors.New("invalid model options")
	// ErrOneClass is returned by TrainRandomForest when the labels do not
	// hold at least two rows of each class (one for training, one held out).
	ErrOneClass = errors.New("labels need at least two rows of each class")
	// ErrGolearn is returned when golearn panics or returns something this
	// package cannot read (the panic is recovered at the package boundary).
	ErrGolearn = errors.New("golearn failed")
	// ErrForeign is returned by Load for data that is not a Halo model
	// artifact at all.
	ErrForeign = errors.New("not a Halo model artifact")
	// ErrVersion is returned by Load for an artifact of a format version
	// this build does not read.
	ErrVersion = errors.New("unsupported model artifact version")
	// ErrCorrupt is returned by Load for an artifact that is damaged or was
	// altered: invalid JSON, unknown fields, an inconsistent model, or an id
	// that is not the hash of the content.
	ErrCorrupt = errors.New("corrupt model artifact")
)
