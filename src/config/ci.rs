//! Which CI the run reports to: `MARKETPLACE_CI`, else the platforms' own variables. It needs nothing
//! else, so that even a configuration error is reported the way the CI expects.

use std::path::PathBuf;

use super::env::Env;
use super::values::parse_bool;
use super::ConfigError;
use crate::report::CiTarget;

/// The CI target for `env`.
pub fn ci_target(env: &Env) -> Result<CiTarget, ConfigError> {
    let choice = env.get("MARKETPLACE_CI").map(|v| v.to_ascii_lowercase());
    let kind = match choice.as_deref() {
        None | Some("auto") => {
            if env.is("GITHUB_ACTIONS", "true") {
                "github"
            } else if env
                .get("TF_BUILD")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            {
                "azure-devops"
            } else if env.is("GITLAB_CI", "true") {
                "gitlab"
            } else {
                "plain"
            }
        }
        Some(other) => other,
    };
    let path = |name: &str| env.get(name).map(PathBuf::from);
    Ok(match kind {
        "github" => CiTarget::GitHub {
            output: path("GITHUB_OUTPUT"),
            summary: path("GITHUB_STEP_SUMMARY"),
            debug: env.is("RUNNER_DEBUG", "1"),
        },
        "azure-devops" => CiTarget::AzureDevOps {
            temp_dir: path("AGENT_TEMPDIRECTORY"),
            debug: env
                .get("SYSTEM_DEBUG")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        },
        "gitlab" => CiTarget::GitLab {
            dotenv: path("MARKETPLACE_DOTENV_FILE"),
            debug: env.is("CI_DEBUG_TRACE", "true"),
        },
        "plain" => CiTarget::Plain {
            debug: env
                .get("MARKETPLACE_DEBUG")
                .is_some_and(|v| parse_bool(&v).unwrap_or(false)),
        },
        _ => {
            return Err(ConfigError::new(
                "MARKETPLACE_CI",
                "use auto, github, azure-devops, gitlab or plain",
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_detection() {
        let ci =
            |pairs: &[(&str, &str)]| ci_target(&Env::from_pairs(pairs.iter().copied())).unwrap();
        assert!(matches!(
            ci(&[("GITHUB_ACTIONS", "true")]),
            CiTarget::GitHub { .. }
        ));
        assert!(matches!(
            ci(&[("TF_BUILD", "True")]),
            CiTarget::AzureDevOps { .. }
        ));
        assert!(matches!(
            ci(&[
                ("GITLAB_CI", "true"),
                ("MARKETPLACE_DOTENV_FILE", "job.env")
            ]),
            CiTarget::GitLab {
                dotenv: Some(_),
                ..
            }
        ));
        assert!(matches!(ci(&[]), CiTarget::Plain { .. }));
        assert!(matches!(
            ci(&[("GITHUB_ACTIONS", "true"), ("MARKETPLACE_CI", "plain")]),
            CiTarget::Plain { .. }
        ));
    }
}
