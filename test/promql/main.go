// Reads PromQL expressions (a JSON array of strings) on stdin and writes, for each, what it reads:
// the vector selectors (metric name and label matchers), the label names it groups or matches on,
// and the metrics it applies rate(), irate() or increase() to (which must be counters), or the
// parse error. Prometheus' own parser, so an expression that passes here parses there.
package main

import (
	"encoding/json"
	"os"
	"sort"

	"github.com/prometheus/prometheus/promql/parser"
)

type matcher struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type selector struct {
	Metric   string    `json:"metric"`
	Matchers []matcher `json:"matchers"`
}

type result struct {
	Expr      string     `json:"expr"`
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors"`
	Labels    []string   `json:"labels"`
	Rated     []string   `json:"rated"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		os.Stderr.WriteString("expected a JSON array of strings on stdin: " + err.Error() + "\n")
		os.Exit(2)
	}
	results := []result{}
	for _, text := range exprs {
		r := result{Expr: text, Selectors: []selector{}, Labels: []string{}, Rated: []string{}}
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(text)
		if err != nil {
			r.Error = err.Error()
			results = append(results, r)
			continue
		}
		labels := map[string]bool{}
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			switch n := node.(type) {
			case *parser.VectorSelector:
				s := selector{Metric: n.Name, Matchers: []matcher{}}
				for _, m := range n.LabelMatchers {
					if m.Name != "__name__" {
						s.Matchers = append(s.Matchers, matcher{m.Name, m.Type.String(), m.Value})
					}
				}
				r.Selectors = append(r.Selectors, s)
			case *parser.Call:
				if n.Func.Name == "rate" || n.Func.Name == "irate" || n.Func.Name == "increase" {
					for _, arg := range n.Args {
						parser.Inspect(arg, func(inner parser.Node, _ []parser.Node) error {
							if v, ok := inner.(*parser.VectorSelector); ok {
								r.Rated = append(r.Rated, v.Name)
							}
							return nil
						})
					}
				}
			case *parser.AggregateExpr:
				for _, l := range n.Grouping {
					labels[l] = true
				}
			case *parser.BinaryExpr:
				if n.VectorMatching != nil {
					for _, l := range append(n.VectorMatching.MatchingLabels, n.VectorMatching.Include...) {
						labels[l] = true
					}
				}
			}
			return nil
		})
		for l := range labels {
			r.Labels = append(r.Labels, l)
		}
		sort.Strings(r.Labels)
		results = append(results, r)
	}
	json.NewEncoder(os.Stdout).Encode(results)
}
