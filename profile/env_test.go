package profile

import "testing"

func TestLooksLikeCredential(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		// The names of issue 11 that reached the command under --profile ci.
		{"CI_NETRC_PASSWORD", true},
		{"CI_NETRC_USERNAME", true},
		{"CI_BUILD_TOKEN", true},
		{"BUILDKITE_AGENT_JOB_API_TOKEN", true},
		{"CIRCLE_TOKEN", true},
		// Parts found inside a longer word.
		{"GITHUBTOKEN", true},
		{"DB_PASSWORDS", true},
		{"CI_JOB_JWT_V2", true},
		{"AWS_SECRET_ACCESS_KEY", true},
		{"SSH_PRIVATE_KEY_FILE", true},
		{"GPG_PASSPHRASE", true},
		{"JENKINS_CREDENTIALS", true},
		{"TRAVIS_SESSION_ID", true},
		{"npm_config__authToken", true},
		{"my_cookie_jar", true},
		// Whole words only.
		{"CI_DEPLOY_KEY", true},
		{"BUILDKITE_API_KEYS", true},
		{"CIRCLE_APIKEY", true},
		{"SSH_AUTH_SOCK", true},
		{"GITLAB_OAUTH", true},
		{"SMTP_PASS", true},
		{"GITLAB_PAT", true},
		{"SENTRY_DSN", true},
		{"GITHUB_KEYWORD", false},
		{"GIT_AUTHOR_NAME", false},
		{"CI_PASSTHROUGH", false},
		{"GITHUB_PATH", false},
		{"KEYBOARD", false},
		// Ordinary CI variables.
		{"CI", false},
		{"GITHUB_SHA", false},
		{"GITHUB_REF_NAME", false},
		{"RUNNER_TEMP", false},
		{"CI_COMMIT_SHA", false},
		{"CI_REGISTRY_USER", false},
		{"BUILDKITE_BUILD_NUMBER", false},
		{"CIRCLE_BRANCH", false},
		{"", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LooksLikeCredential(tc.name); got != tc.want {
				t.Errorf("LooksLikeCredential(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func TestEnvKeeps(t *testing.T) {
	e := Env{
		Keep:  []string{"CI", "CI_*", "CIRCLE_*", "CI_BUILD_TOKEN", "TERM"},
		Unset: []string{"CI_JOB_ID", "CI_*"},
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"CI", true},
		{"TERM", true},
		{"CI_COMMIT_SHA", true},                  // a prefix
		{"CIRCLE_BRANCH", true},                  // another prefix
		{"CI_NETRC_PASSWORD", false},             // a prefix, but a credential
		{"CIRCLE_TOKEN", false},                  // likewise
		{"CI_BUILD_TOKEN", true},                 // a credential named exactly
		{"CI_JOB_ID", false},                     // unset wins over a prefix
		{"CI_*", false},                          // unset wins over an exact name
		{"CIX", false},                           // no pattern
		{"LANG", false},                          // not kept
		{"BUILDKITE_AGENT_JOB_API_TOKEN", false}, // not kept
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.Keeps(tc.name); got != tc.want {
				t.Errorf("Keeps(%q) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}
