//! Where configuration values come from and how they are read: the environment layer,
//! lists written as one string, the database password put into its URL.

use std::collections::BTreeMap;

use super::ENV_PREFIX;

/// The `PRC_*` variables (by dotted key path) as a layer whose errors name the variable.
pub(super) struct EnvLayer(pub(super) BTreeMap<String, String>);

impl figment::Provider for EnvLayer {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable").interpolater(
            |_: &figment::Profile, keys: &[&str]| {
                format!("{ENV_PREFIX}{}", keys.join("__").to_uppercase())
            },
        )
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Value};
        fn insert(dict: &mut Dict, keys: &[&str], value: Value) {
            match keys {
                [] => {}
                [last] => {
                    dict.insert((*last).to_owned(), value);
                }
                [first, rest @ ..] => {
                    let entry = dict
                        .entry((*first).to_owned())
                        .or_insert_with(|| Dict::new().into());
                    if !matches!(entry, Value::Dict(..)) {
                        *entry = Dict::new().into();
                    }
                    if let Value::Dict(_, inner) = entry {
                        insert(inner, rest, value);
                    }
                }
            }
        }
        let mut root = Dict::new();
        for (path, raw) in &self.0 {
            let keys: Vec<&str> = path.split('.').collect();
            insert(&mut root, &keys, raw.as_str().into());
        }
        Ok(figment::Profile::Default.collect(root))
    }
}

/// `url` (a PostgreSQL URL naming a host) with `password` percent-encoded as its
/// password, replacing any there; `None` when `url` is not such a URL.
pub(super) fn with_password(url: &str, password: &str) -> Option<String> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return None;
    }
    let mut parsed = url::Url::parse(url).ok()?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return None;
    }
    // Every byte but ASCII letters and digits is escaped: `url` would leave `%` alone,
    // and libpq decodes `%XX` in the password.
    let encoded =
        percent_encoding::utf8_percent_encode(password, percent_encoding::NON_ALPHANUMERIC);
    parsed.set_password(Some(&encoded.to_string())).ok()?;
    Some(parsed.into())
}

/// Lists that can also be written as one string, as operators write them in environment
/// variables: `a,b` (items split on commas and trimmed, empty items dropped), a single
/// `a`, or a TOML list `["a", "b"]` (needed when an item contains a comma or starts
/// with `[`). In a TOML file, an ordinary list.
pub(super) mod list {
    use std::fmt;
    use std::marker::PhantomData;
    use std::str::FromStr;

    use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de> + FromStr,
        T::Err: fmt::Display,
    {
        d.deserialize_any(ListVisitor(PhantomData))
    }

    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T> Visitor<'de> for ListVisitor<T>
    where
        T: Deserialize<'de> + FromStr,
        T::Err: fmt::Display,
    {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list, or a string of comma-separated items")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
            if text.trim_start().starts_with('[') {
                // The text is not quoted in errors: it may hold secrets.
                let not_a_list = || {
                    E::custom("a value starting with `[` must be a TOML list, e.g. [\"a\", \"b\"]")
                };
                let table: toml::Table =
                    toml::from_str(&format!("list = {text}")).map_err(|_| not_a_list())?;
                let Some(toml::Value::Array(items)) = table.get("list") else {
                    return Err(not_a_list());
                };
                return items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        T::deserialize(item.clone())
                            .map_err(|e| E::custom(format!("item {}: {e}", i + 1)))
                    })
                    .collect();
            }
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .enumerate()
                .map(|(i, item)| {
                    item.parse()
                        .map_err(|e| E::custom(format!("item {}: {e}", i + 1)))
                })
                .collect()
        }
    }
}
