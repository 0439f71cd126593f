package featurize

import (
	"testing"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"0/1", Shard{0, 1}, true},
		{"3/4", Shard{3, 4}, true},
		{"4/4", Shard{}, false},
		{"-1/4", Shard{}, false},
		{"1/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
		{"", Shard{}, false},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestShardsPartition: the shards of any data set size cover every row
// exactly once, in order.
func TestShardsPartition(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 100, 4001} {
		for count := 1; count <= 9; count++ {
			next := 0
			for i := range count {
				lo, hi := Shard{i, count}.Range(n)
				if lo != next || hi < lo {
					t.Fatalf("n=%d, shard %d/%d = [%d, %d), want to start at %d", n, i, count, lo, hi, next)
				}
				next = hi
			}
			if next != n {
				t.Errorf("n=%d, %d shards end at %d", n, count, next)
			}
		}
	}
	if lo, hi := (Shard{}).Range(5); lo != 0 || hi != 5 {
		t.Errorf("zero shard covers [%d, %d), want all", lo, hi)
	}
}
