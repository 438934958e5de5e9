// Package profiles holds the library of sandbox profiles shipped with jail.
// It only embeds the *.toml files; package profile parses them.
package profiles

import "embed"

// FS holds every *.toml file of this directory, e.g. "default.toml".
//
//go:embed *.toml
var FS embed.FS
