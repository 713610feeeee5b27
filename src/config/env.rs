//! The environment as the program reads it: a snapshot of the variables, and the `MARKETPLACE_*`
//! inputs deserialized by envy into [`Inputs`], whose fields are the one list of input names.
//!
//! Each typed field is a [`Checked`] value, so that one bad input does not hide the others: every
//! problem is collected and reported at once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use url::Url;

use super::values::{parse_bool, parse_duration};
use crate::outcome::Output;
use crate::service::api::Api;
use crate::service::Command;

pub const PREFIX: &str = "MARKETPLACE_";

/// A snapshot of the process environment, so that tests and the demo can run the program on their own.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The process environment; a variable whose name or value is not UTF-8 is left out.
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// A variable, trimmed; blank counts as unset.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    pub fn is(&self, name: &str, value: &str) -> bool {
        self.get(name).as_deref() == Some(value)
    }

    /// `MARKETPLACE_*` names that are set but not inputs (likely typos). The outputs a GitLab job
    /// passes on through its dotenv file (`MARKETPLACE_OUTCOME`, ...) are not typos.
    pub fn unknown_inputs(&self) -> Vec<String> {
        let known = input_names();
        self.0
            .keys()
            .filter_map(|k| Some((k, k.strip_prefix(PREFIX)?)))
            .filter(|(k, rest)| {
                !known.contains(&rest.to_ascii_lowercase().as_str())
                    && !Output::ALL.iter().any(|o| o.variable() == k.as_str())
            })
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// The inputs, typed; values that do not parse are kept as [`Checked::Bad`] for the caller to report.
    pub fn inputs(&self) -> Result<Inputs, String> {
        envy::prefixed(PREFIX)
            .from_iter(
                self.0
                    .keys()
                    .filter(|k| k.starts_with(PREFIX))
                    .filter_map(|k| self.get(k).map(|v| (k.clone(), v))),
            )
            .map_err(|e| e.to_string())
    }
}

/// Every `MARKETPLACE_*` input (prefix stripped, lower snake case), each typed.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Inputs {
    pub api: Option<Checked<Api>>,
    pub publisher_id: Option<String>,
    pub offer_id: Option<String>,
    pub command: Option<Checked<Command>>,
    pub notification_emails: Option<String>,
    pub operation: Option<String>,
    pub wait: Option<Checked<bool>>,
    pub timeout: Option<Checked<Duration>>,
    pub poll_interval: Option<Checked<Duration>>,
    pub poll_max_interval: Option<Checked<Duration>>,
    pub cancel_on_interrupt: Option<Checked<bool>>,
    pub auth: Option<String>,
    pub token: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub api_base: Option<Checked<Url>>,
    pub api_version: Option<String>,
    pub authority_host: Option<Checked<Url>>,
    pub ci: Option<String>,
    pub result_file: Option<String>,
    pub dotenv_file: Option<String>,
    pub debug: Option<Checked<bool>>,
    /// The draft changes (contract section 7), read by [`crate::changes`] from the same names.
    pub configure_file: Option<String>,
    pub plan_id: Option<String>,
    pub image_version: Option<String>,
    pub os_disk_url: Option<String>,
    pub data_disk_urls: Option<String>,
    pub image_type: Option<String>,
}

/// A value that parsed, or the text that did not with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked<T> {
    Ok(T),
    Bad { text: String, why: String },
}

/// How an input's text becomes its type.
pub trait FromInput: Sized {
    fn from_input(text: &str) -> Result<Self, String>;
}

impl FromInput for bool {
    fn from_input(text: &str) -> Result<bool, String> {
        parse_bool(text).ok_or_else(|| "use true or false (also 1/0, yes/no)".to_string())
    }
}

impl FromInput for Duration {
    fn from_input(text: &str) -> Result<Duration, String> {
        parse_duration(text).ok_or_else(|| {
            "use a whole number with a unit: ms, s, m or h (e.g. 250ms, 90s, 45m, 2h); a bare number is seconds"
                .to_string()
        })
    }
}

impl FromInput for Url {
    fn from_input(text: &str) -> Result<Url, String> {
        Url::parse(text).map_err(|_| "must be an absolute URL such as https://host".to_string())
    }
}

impl FromInput for Command {
    fn from_input(text: &str) -> Result<Command, String> {
        Ok(match text.to_ascii_lowercase().as_str() {
            "publish" => Command::Publish,
            "go-live" | "golive" => Command::GoLive,
            "status" => Command::Status,
            "cancel" => Command::Cancel,
            "configure" => Command::Configure,
            _ => return Err("use publish, go-live, status, cancel or configure".to_string()),
        })
    }
}

impl FromInput for Api {
    fn from_input(text: &str) -> Result<Api, String> {
        Api::ALL
            .into_iter()
            .find(|api| {
                api.rules()
                    .names
                    .contains(&text.to_ascii_lowercase().as_str())
            })
            .ok_or_else(|| "use cloud-partner-portal (or cpp) or product-ingestion".to_string())
    }
}

impl<'de, T: FromInput> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(match T::from_input(&text) {
            Ok(value) => Checked::Ok(value),
            Err(why) => Checked::Bad { text, why },
        })
    }
}

/// The field names of [`Inputs`], read from its `Deserialize` implementation: the inputs are named once.
pub fn input_names() -> &'static [&'static str] {
    struct Names;
    impl<'de> Deserializer<'de> for Names {
        type Error = NamesFound;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, NamesFound> {
            Err(NamesFound(&[]))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, NamesFound> {
            Err(NamesFound(fields))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    #[derive(Debug)]
    struct NamesFound(&'static [&'static str]);
    impl std::fmt::Display for NamesFound {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("input names")
        }
    }
    impl std::error::Error for NamesFound {}
    impl de::Error for NamesFound {
        fn custom<M: std::fmt::Display>(_: M) -> NamesFound {
            NamesFound(&[])
        }
    }
    match Inputs::deserialize(Names) {
        Err(NamesFound(fields)) => fields,
        Ok(_) => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_input_names_are_the_fields() {
        let names = input_names();
        assert!(names.contains(&"offer_id") && names.contains(&"poll_max_interval"));
        assert_eq!(names.len(), 29);
    }

    #[test]
    fn typos_are_unknown_but_outputs_passed_on_are_not() {
        let env = Env::from_pairs([
            ("MARKETPLACE_OFER_ID", "x"),
            ("MARKETPLACE_OUTCOME", "succeeded"),
            ("MARKETPLACE_OPERATION_LOCATION", "https://x/api/y"),
            ("MARKETPLACE_OFFER_ID", "o"),
        ]);
        assert_eq!(
            env.unknown_inputs(),
            vec!["MARKETPLACE_OFER_ID".to_string()]
        );
    }

    #[test]
    fn bad_values_are_kept_for_the_report() {
        let env = Env::from_pairs([("MARKETPLACE_WAIT", "maybe"), ("MARKETPLACE_TIMEOUT", "2h")]);
        let inputs = env.inputs().unwrap();
        assert!(matches!(inputs.wait, Some(Checked::Bad { .. })));
        assert_eq!(inputs.timeout, Some(Checked::Ok(Duration::from_secs(7200))));
    }
}
