//go:build tools

package deps

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/olekukonko/tablewriter"
	_ "github.com/ory/dockertest/v3"
	_ "github.com/sebdah/goldie/v2"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "go.uber.org/goleak"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/sync/errgroup"
	_ "k8s.io/utils/clock/testing"
)
