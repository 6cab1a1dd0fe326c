package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// modulePath is the module whose root -root defaults to.
const modulePath = "github.com/throttled-go/throttled"

// Paths relative to the module root, slash-separated.
const (
	algorithmsDir = "docs/algorithms"
	benchDir      = "docs/bench"
	peersJSON     = benchDir + "/peers.json"
	peersSVG      = benchDir + "/peers.svg"
)

// chartDirs are the directories whose every .svg this tool draws: a chart
// there that it does not draw is stale too.
var chartDirs = []string{algorithmsDir, benchDir}

// chart is one generated file: its slash path under the root and contents.
type chart struct {
	path string
	data []byte
}

// render draws every chart in memory; it reads only docs/bench/peers.json
// under root.
func render(root string) ([]chart, error) {
	var charts []chart
	for _, pt := range patterns {
		runs, err := simulate(pt, quota)
		if err != nil {
			return nil, fmt.Errorf("pattern %s: %w", pt.name, err)
		}
		charts = append(charts, chart{algorithmsDir + "/" + pt.name + ".svg", algorithmChart(pt, quota, runs)})
	}
	peers, err := readPeers(filepath.Join(root, filepath.FromSlash(peersJSON)))
	if err != nil {
		return nil, err
	}
	charts = append(charts, chart{peersSVG, benchChart(peers)})
	return charts, nil
}

// compare returns one line per chart under root that differs from charts,
// is missing, or is not one of charts.
func compare(root string, charts []chart) ([]string, error) {
	var stale []string
	drawn := map[string]bool{}
	for _, c := range charts {
		drawn[c.path] = true
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(c.path)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			stale = append(stale, "missing: "+c.path)
		case err != nil:
			return nil, err
		case !bytes.Equal(old, c.data):
			stale = append(stale, "stale: "+c.path)
		}
	}
	orphans, err := orphans(root, drawn)
	if err != nil {
		return nil, err
	}
	for _, o := range orphans {
		stale = append(stale, "not drawn by throttled-charts: "+o)
	}
	return stale, nil
}

// orphans lists the .svg files in chartDirs under root that are not drawn.
func orphans(root string, drawn map[string]bool) ([]string, error) {
	var out []string
	for _, dir := range chartDirs {
		entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			p := path.Join(dir, e.Name())
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".svg") && !drawn[p] {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// write stores charts under root, leaving unchanged files untouched, and
// removes the charts it no longer draws.
func write(root string, charts []chart) error {
	drawn := map[string]bool{}
	for _, c := range charts {
		drawn[c.path] = true
		name := filepath.Join(root, filepath.FromSlash(c.path))
		if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, c.data) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, c.data, 0o644); err != nil {
			return err
		}
	}
	orphans, err := orphans(root, drawn)
	if err != nil {
		return err
	}
	for _, o := range orphans {
		if err := os.Remove(filepath.Join(root, filepath.FromSlash(o))); err != nil {
			return err
		}
	}
	return nil
}

// findRoot returns the directory at or above dir whose go.mod declares
// modulePath.
func findRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if isModuleRoot(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module %s at or above %s; pass -root", modulePath, dir)
		}
	}
}

// isModuleRoot reports whether the go.mod file at name declares modulePath.
func isModuleRoot(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}
