// Package notebooks is the home of Halo's Jupyter notebooks for data
// scientists (01-explore, 02-train-compare, 03-backtest: see README.md). It
// holds no Go code of its own: its tests are the notebooks' CI. They build
// the halo binary, import labeled Zeek logs and run halo sim's fleet with
// injected attacks through a real edge into a temporary data directory,
// raise the alerts a live pipeline would, export the log with
// halo export, then execute every notebook headless with nbclient
// (run_notebooks.py) against that export, failing with the failing cell's
// error; and they check that no committed notebook carries outputs
// (strip_outputs.py, `go tool task notebooks-strip`, removes them).
package notebooks
