package profile

import (
	"slices"
	"strings"
)

// Keeps says whether the caller's variable name reaches the command through
// env.keep: it is named exactly, or it matches a prefix entry ("CI_*") and
// does not look like a credential (LooksLikeCredential). A name in
// env.unset is never kept. env.set is applied on top, by the caller.
func (e Env) Keeps(name string) bool {
	if slices.Contains(e.Unset, name) {
		return false
	}
	if slices.Contains(e.Keep, name) {
		return true
	}
	if LooksLikeCredential(name) {
		return false
	}
	for _, k := range e.Keep {
		if prefix, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// credentialParts are found anywhere in a word of a variable's name: they
// are long enough to mean a secret wherever they appear
// (DBPASSWORD, GITHUBTOKEN, CI_NETRC_USERNAME).
var credentialParts = []string{
	"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL",
	"NETRC", "PRIVATE", "COOKIE", "SESSION", "JWT",
}

// credentialWords must be a whole word of the name (words are separated by
// '_'): as parts of a longer word they mean something else (KEYWORD,
// AUTHOR, PASSTHROUGH, PATH).
var credentialWords = []string{
	"KEY", "KEYS", "APIKEY", "AUTH", "OAUTH", "AUTHORIZATION", "BEARER", "PASS", "PAT", "DSN",
}

// LooksLikeCredential says whether a variable's name, compared without
// case, looks like it holds a secret, so that a prefix in env.keep does
// not pass it: one of its '_'-separated words contains one of
// credentialParts or equals one of credentialWords.
func LooksLikeCredential(name string) bool {
	for _, w := range strings.Split(strings.ToUpper(name), "_") {
		if slices.Contains(credentialWords, w) {
			return true
		}
		for _, p := range credentialParts {
			if strings.Contains(w, p) {
				return true
			}
		}
	}
	return false
}
