//! The `aws.s3.*` properties of `CREATE REPOSITORY` and the credential mode they select.
//!
//! StarRocks' keys and defaults (statements.md "S3 properties"), checked strictly: an unknown key,
//! a boolean that is not `true`/`false`, a partial credential set or two credential modes at once
//! is an error naming the property at fault. Messages never contain a property's value except
//! for booleans, so a secret written in the wrong place never ends up in an error.
//!
//! An empty string counts as not given, as in StarRocks, whose defaults are empty strings.

use std::collections::BTreeMap;

use crate::config::Secret;

pub const ACCESS_KEY: &str = "aws.s3.access_key";
pub const SECRET_KEY: &str = "aws.s3.secret_key";
pub const SESSION_TOKEN: &str = "aws.s3.session_token";
pub const REGION: &str = "aws.s3.region";
pub const ENDPOINT: &str = "aws.s3.endpoint";
pub const USE_INSTANCE_PROFILE: &str = "aws.s3.use_instance_profile";
pub const IAM_ROLE_ARN: &str = "aws.s3.iam_role_arn";
pub const EXTERNAL_ID: &str = "aws.s3.external_id";
pub const USE_DEFAULT_CHAIN: &str = "aws.s3.use_aws_sdk_default_behavior";
pub const USE_WEB_IDENTITY: &str = "aws.s3.use_web_identity_token_file";
pub const STS_REGION: &str = "aws.s3.sts.region";
pub const STS_ENDPOINT: &str = "aws.s3.sts.endpoint";
pub const PATH_STYLE: &str = "aws.s3.enable_path_style_access";
pub const ENABLE_SSL: &str = "aws.s3.enable_ssl";
pub const S3A_ACCESS_KEY: &str = "fs.s3a.access.key";
pub const S3A_SECRET_KEY: &str = "fs.s3a.secret.key";
pub const S3A_ENDPOINT: &str = "fs.s3a.endpoint";

/// Every property an S3 repository accepts, in the order error messages list them.
pub const ACCEPTED: &[&str] = &[
    ACCESS_KEY,
    SECRET_KEY,
    SESSION_TOKEN,
    REGION,
    ENDPOINT,
    USE_INSTANCE_PROFILE,
    IAM_ROLE_ARN,
    EXTERNAL_ID,
    USE_DEFAULT_CHAIN,
    USE_WEB_IDENTITY,
    STS_REGION,
    STS_ENDPOINT,
    PATH_STYLE,
    ENABLE_SSL,
    S3A_ACCESS_KEY,
    S3A_SECRET_KEY,
    S3A_ENDPOINT,
];

/// The region when `aws.s3.region` is not given (StarRocks' default).
pub const DEFAULT_REGION: &str = "us-east-1";

/// How an S3 repository gets its credentials.
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialMode {
    /// `aws.s3.access_key` + `aws.s3.secret_key` (+ `aws.s3.session_token`).
    Static {
        access_key: String,
        secret_key: Secret,
        session_token: Option<Secret>,
    },
    /// `aws.s3.use_instance_profile = true`: EC2 instance metadata (IMDSv2).
    InstanceProfile,
    /// No credential property (or `aws.s3.use_aws_sdk_default_behavior = true`): aws-config's
    /// default chain (environment, profile files, web identity, container, instance profile).
    DefaultChain,
}

/// `aws.s3.iam_role_arn`: assume this role (STS AssumeRole) on top of the base credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub external_id: Option<String>,
    /// `aws.s3.sts.region`; the repository's region when absent.
    pub sts_region: Option<String>,
    /// `aws.s3.sts.endpoint`, with a scheme. When absent: the S3 endpoint if one is given and it
    /// is not AWS's own, else AWS's regional STS endpoint.
    pub sts_endpoint: Option<String>,
}

/// Everything an S3 repository needs besides its bucket and prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Options {
    pub region: String,
    /// `aws.s3.endpoint`, with a scheme (`http://` when `aws.s3.enable_ssl = false` and none
    /// was written).
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub enable_ssl: bool,
    pub credentials: CredentialMode,
    pub assume_role: Option<AssumeRole>,
}

/// The properties, by key, with empty values dropped.
struct Props<'a> {
    map: BTreeMap<&'a str, &'a str>,
}

impl<'a> Props<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        self.map.get(key).copied().filter(|v| !v.is_empty())
    }

    /// A key that has an alias: either spelling, but not both with different values.
    fn get_aliased(&self, key: &str, alias: &str) -> Result<Option<&'a str>, String> {
        match (self.get(key), self.get(alias)) {
            (Some(a), Some(b)) if a != b => Err(format!(
                "S3 property '{key}' and its alias '{alias}' are both given with different values; \
                 give one of them"
            )),
            (Some(a), _) => Ok(Some(a)),
            (None, b) => Ok(b),
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.map.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(format!(
                "S3 property '{key}' must be true or false, not '{}'",
                v.escape_default()
            )),
        }
    }
}

impl S3Options {
    /// Validates the properties of an S3 repository. The error names the property at fault.
    pub fn from_properties(props: &[(String, String)]) -> Result<S3Options, String> {
        let mut map = BTreeMap::new();
        for (k, v) in props {
            if !ACCEPTED.contains(&k.as_str()) {
                return Err(format!(
                    "unknown S3 repository property '{}'; accepted properties: {}",
                    k.escape_default(),
                    ACCEPTED.join(", ")
                ));
            }
            if map.insert(k.as_str(), v.as_str()).is_some() {
                return Err(format!("S3 property '{k}' is given more than once"));
            }
        }
        let p = Props { map };

        let access_key = p.get_aliased(ACCESS_KEY, S3A_ACCESS_KEY)?;
        let secret_key = p.get_aliased(SECRET_KEY, S3A_SECRET_KEY)?;
        let session_token = p.get(SESSION_TOKEN);
        let instance_profile = p.bool(USE_INSTANCE_PROFILE, false)?;
        let default_chain = p.bool(USE_DEFAULT_CHAIN, false)?;
        let web_identity = p.bool(USE_WEB_IDENTITY, false)?;
        let path_style = p.bool(PATH_STYLE, false)?;
        let enable_ssl = p.bool(ENABLE_SSL, true)?;
        let role_arn = p.get(IAM_ROLE_ARN);
        let external_id = p.get(EXTERNAL_ID);
        let sts_region = p.get(STS_REGION);
        let sts_endpoint = p.get(STS_ENDPOINT);

        // Partial credential sets.
        let access_name = || name_given(&p, ACCESS_KEY, S3A_ACCESS_KEY);
        let secret_name = || name_given(&p, SECRET_KEY, S3A_SECRET_KEY);
        match (access_key, secret_key) {
            (Some(_), None) => {
                return Err(format!(
                    "S3 property '{}' is given without '{SECRET_KEY}'",
                    access_name()
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "S3 property '{}' is given without '{ACCESS_KEY}'",
                    secret_name()
                ));
            }
            _ => {}
        }
        if session_token.is_some() && access_key.is_none() {
            return Err(format!(
                "S3 property '{SESSION_TOKEN}' is given without '{ACCESS_KEY}' and '{SECRET_KEY}'"
            ));
        }
        if role_arn.is_none() {
            for key in [EXTERNAL_ID, STS_REGION, STS_ENDPOINT] {
                if p.get(key).is_some() {
                    return Err(format!(
                        "S3 property '{key}' is given without '{IAM_ROLE_ARN}'"
                    ));
                }
            }
        }

        // At most one base credential mode.
        let mut modes: Vec<String> = Vec::new();
        if access_key.is_some() {
            modes.push(access_name().to_string());
        }
        if instance_profile {
            modes.push(format!("{USE_INSTANCE_PROFILE}=true"));
        }
        if default_chain {
            modes.push(format!("{USE_DEFAULT_CHAIN}=true"));
        }
        if web_identity && !default_chain {
            modes.push(format!("{USE_WEB_IDENTITY}=true"));
        }
        if let [first, second, ..] = modes.as_slice() {
            return Err(format!(
                "S3 properties '{first}' and '{second}' select different credential modes; \
                 give only one of them"
            ));
        }

        let region = match p.get(REGION) {
            Some(r) => check_region(REGION, r)?,
            None if instance_profile => {
                return Err(format!(
                    "S3 property '{REGION}' is required with '{USE_INSTANCE_PROFILE}'"
                ));
            }
            None if role_arn.is_some() => {
                return Err(format!(
                    "S3 property '{REGION}' is required with '{IAM_ROLE_ARN}'"
                ));
            }
            None => DEFAULT_REGION.to_string(),
        };

        let endpoint = match p.get_aliased(ENDPOINT, S3A_ENDPOINT)? {
            Some(e) => Some(normalize_endpoint(
                name_given(&p, ENDPOINT, S3A_ENDPOINT),
                e,
                enable_ssl,
            )?),
            None => None,
        };

        let credentials = match (access_key, secret_key) {
            (Some(access_key), Some(secret_key)) => CredentialMode::Static {
                access_key: check_plain(access_name(), access_key)?.to_string(),
                secret_key: Secret::new(secret_key),
                session_token: session_token.map(Secret::new),
            },
            _ if instance_profile => CredentialMode::InstanceProfile,
            _ => CredentialMode::DefaultChain,
        };

        let assume_role = match role_arn {
            None => None,
            Some(arn) => {
                if !arn.starts_with("arn:") || arn.chars().any(char::is_whitespace) {
                    return Err(format!(
                        "S3 property '{IAM_ROLE_ARN}' must be a role ARN (arn:aws:iam::<account>:role/<name>), not '{}'",
                        arn.escape_default()
                    ));
                }
                Some(AssumeRole {
                    role_arn: arn.to_string(),
                    external_id: external_id.map(str::to_string),
                    sts_region: sts_region
                        .map(|r| check_region(STS_REGION, r))
                        .transpose()?,
                    sts_endpoint: sts_endpoint
                        .map(|e| normalize_endpoint(STS_ENDPOINT, e, enable_ssl))
                        .transpose()?,
                })
            }
        };

        Ok(S3Options {
            region,
            endpoint,
            path_style,
            enable_ssl,
            credentials,
            assume_role,
        })
    }
}

/// The spelling of a key the user wrote (the alias when only it is given), for messages.
fn name_given(p: &Props<'_>, key: &'static str, alias: &'static str) -> &'static str {
    if p.get(key).is_none() && p.get(alias).is_some() {
        alias
    } else {
        key
    }
}

fn check_region(key: &str, region: &str) -> Result<String, String> {
    if region
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(region.to_string())
    } else {
        Err(format!(
            "S3 property '{key}' is not a region name: '{}'",
            region.escape_default()
        ))
    }
}

/// An access key id goes into a header: printable ASCII only. The value is not echoed.
fn check_plain<'v>(key: &str, value: &'v str) -> Result<&'v str, String> {
    if value.chars().all(|c| c.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(format!(
            "S3 property '{key}' contains a character that is not printable ASCII"
        ))
    }
}

/// `host[:port][/path]` gets `https://` (or `http://` without SSL); a trailing `/` is dropped.
fn normalize_endpoint(key: &str, raw: &str, enable_ssl: bool) -> Result<String, String> {
    let bad = |why: &str| {
        Err(format!(
            "S3 property '{key}' is not a valid endpoint ({why}): '{}'",
            raw.escape_default()
        ))
    };
    let trimmed = raw.trim().trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        ("https://", trimmed.get(8..).unwrap_or(""))
    } else if lower.starts_with("http://") {
        ("http://", trimmed.get(7..).unwrap_or(""))
    } else if trimmed.contains("://") {
        return bad("the scheme must be http or https");
    } else if enable_ssl {
        ("https://", trimmed)
    } else {
        ("http://", trimmed)
    };
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return bad("no host");
    }
    if rest
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '@'))
    {
        return bad("it must be scheme://host[:port][/path]");
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return bad("the port is not a number");
    }
    Ok(format!("{scheme}{rest}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<S3Options, String> {
        let props: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        S3Options::from_properties(&props)
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match parse(pairs) {
            Ok(o) => panic!("{pairs:?} was accepted: {o:?}"),
            Err(e) => e,
        }
    }

    const SECRET: &str = "wJalrXUtnFEMI-very-secret";

    #[test]
    fn no_properties_is_the_default_chain_in_us_east_1() {
        let o = parse(&[]).unwrap();
        assert_eq!(o.region, "us-east-1");
        assert_eq!(o.credentials, CredentialMode::DefaultChain);
        assert_eq!(o.endpoint, None);
        assert!(!o.path_style);
        assert!(o.enable_ssl);
        assert_eq!(o.assume_role, None);
    }

    #[test]
    fn static_keys_with_session_token() {
        let o = parse(&[
            (ACCESS_KEY, "AKIDEXAMPLE"),
            (SECRET_KEY, SECRET),
            (SESSION_TOKEN, "tok"),
            (REGION, "eu-west-1"),
        ])
        .unwrap();
        assert_eq!(o.region, "eu-west-1");
        match o.credentials {
            CredentialMode::Static {
                access_key,
                secret_key,
                session_token,
            } => {
                assert_eq!(access_key, "AKIDEXAMPLE");
                assert_eq!(secret_key.expose(), SECRET);
                assert_eq!(session_token.unwrap().expose(), "tok");
            }
            other => panic!("{other:?}"),
        }
        // Debug output never shows the secret.
        let o = parse(&[(ACCESS_KEY, "AKIDEXAMPLE"), (SECRET_KEY, SECRET)]).unwrap();
        assert!(!format!("{o:?}").contains(SECRET));
    }

    #[test]
    fn s3a_aliases() {
        let o = parse(&[
            (S3A_ACCESS_KEY, "AK"),
            (S3A_SECRET_KEY, SECRET),
            (S3A_ENDPOINT, "storage.googleapis.com"),
        ])
        .unwrap();
        assert!(
            matches!(o.credentials, CredentialMode::Static { ref access_key, .. } if access_key == "AK")
        );
        assert_eq!(
            o.endpoint.as_deref(),
            Some("https://storage.googleapis.com")
        );
        // Both spellings with the same value are fine; with different values not.
        parse(&[
            (ACCESS_KEY, "AK"),
            (S3A_ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
        ])
        .unwrap();
        let e = err(&[
            (ACCESS_KEY, "AK"),
            (S3A_ACCESS_KEY, "AK2"),
            (SECRET_KEY, SECRET),
        ]);
        assert!(e.contains(ACCESS_KEY) && e.contains(S3A_ACCESS_KEY), "{e}");
        let e = err(&[
            (ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
            (S3A_SECRET_KEY, "other-secret"),
        ]);
        assert!(!e.contains(SECRET) && !e.contains("other-secret"), "{e}");
    }

    #[test]
    fn unknown_property_is_named_and_accepted_ones_listed() {
        let e = err(&[("aws.s3.acces_key", "x")]);
        assert!(e.contains("'aws.s3.acces_key'"), "{e}");
        for key in ACCEPTED {
            assert!(e.contains(key), "{e} lacks {key}");
        }
        // Keys are case-sensitive.
        let e = err(&[("AWS.S3.REGION", "us-east-1")]);
        assert!(e.contains("AWS.S3.REGION"), "{e}");
    }

    #[test]
    fn duplicate_property() {
        let e = err(&[(REGION, "a"), (REGION, "b")]);
        assert!(e.contains(REGION) && e.contains("more than once"), "{e}");
    }

    #[test]
    fn booleans_are_true_or_false_in_any_case() {
        let o = parse(&[(PATH_STYLE, "TRUE"), (ENABLE_SSL, "False")]).unwrap();
        assert!(o.path_style);
        assert!(!o.enable_ssl);
        for key in [
            PATH_STYLE,
            ENABLE_SSL,
            USE_INSTANCE_PROFILE,
            USE_DEFAULT_CHAIN,
            USE_WEB_IDENTITY,
        ] {
            for bad in ["yes", "1", "", " true"] {
                let e = err(&[(key, bad), (REGION, "us-east-1")]);
                assert!(e.contains(key) && e.contains("true or false"), "{e}");
            }
        }
    }

    #[test]
    fn partial_key_sets_name_the_missing_property() {
        let e = err(&[(ACCESS_KEY, "AK")]);
        assert!(e.contains(ACCESS_KEY) && e.contains(SECRET_KEY), "{e}");
        let e = err(&[(S3A_ACCESS_KEY, "AK")]);
        assert!(e.contains(S3A_ACCESS_KEY) && e.contains(SECRET_KEY), "{e}");
        let e = err(&[(SECRET_KEY, SECRET)]);
        assert!(e.contains("without 'aws.s3.access_key'"), "{e}");
        assert!(!e.contains(SECRET), "{e}");
        let e = err(&[(SESSION_TOKEN, "tok")]);
        assert!(e.contains(SESSION_TOKEN) && e.contains(ACCESS_KEY), "{e}");
        assert!(!e.contains("'tok'"), "{e}");
        // An empty value counts as not given.
        let e = err(&[(ACCESS_KEY, "AK"), (SECRET_KEY, "")]);
        assert!(e.contains(SECRET_KEY), "{e}");
    }

    #[test]
    fn role_options_need_a_role() {
        for key in [EXTERNAL_ID, STS_REGION, STS_ENDPOINT] {
            let e = err(&[(key, "x")]);
            assert!(e.contains(key) && e.contains(IAM_ROLE_ARN), "{e}");
        }
    }

    #[test]
    fn two_credential_modes_name_both() {
        let e = err(&[
            (ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
            (USE_INSTANCE_PROFILE, "true"),
            (REGION, "us-east-1"),
        ]);
        assert!(
            e.contains(ACCESS_KEY) && e.contains(USE_INSTANCE_PROFILE),
            "{e}"
        );
        assert!(!e.contains(SECRET), "{e}");
        let e = err(&[
            (USE_DEFAULT_CHAIN, "true"),
            (USE_INSTANCE_PROFILE, "true"),
            (REGION, "us-east-1"),
        ]);
        assert!(
            e.contains(USE_DEFAULT_CHAIN) && e.contains(USE_INSTANCE_PROFILE),
            "{e}"
        );
        let e = err(&[
            (ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
            (USE_WEB_IDENTITY, "true"),
        ]);
        assert!(
            e.contains(ACCESS_KEY) && e.contains(USE_WEB_IDENTITY),
            "{e}"
        );
        // Flags set to false select nothing.
        let o = parse(&[
            (ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
            (USE_INSTANCE_PROFILE, "false"),
            (USE_DEFAULT_CHAIN, "false"),
        ])
        .unwrap();
        assert!(matches!(o.credentials, CredentialMode::Static { .. }));
    }

    #[test]
    fn instance_profile_and_default_chain() {
        let o = parse(&[(USE_INSTANCE_PROFILE, "true"), (REGION, "us-west-2")]).unwrap();
        assert_eq!(o.credentials, CredentialMode::InstanceProfile);
        assert_eq!(o.region, "us-west-2");
        let e = err(&[(USE_INSTANCE_PROFILE, "true")]);
        assert!(
            e.contains(REGION) && e.contains(USE_INSTANCE_PROFILE),
            "{e}"
        );
        let o = parse(&[(USE_DEFAULT_CHAIN, "true")]).unwrap();
        assert_eq!(o.credentials, CredentialMode::DefaultChain);
        let o = parse(&[(USE_WEB_IDENTITY, "true")]).unwrap();
        assert_eq!(o.credentials, CredentialMode::DefaultChain);
        let o = parse(&[(USE_WEB_IDENTITY, "true"), (USE_DEFAULT_CHAIN, "true")]).unwrap();
        assert_eq!(o.credentials, CredentialMode::DefaultChain);
    }

    #[test]
    fn assume_role_on_any_base_mode() {
        let arn = "arn:aws:iam::123456789012:role/backup";
        let o = parse(&[
            (ACCESS_KEY, "AK"),
            (SECRET_KEY, SECRET),
            (IAM_ROLE_ARN, arn),
            (EXTERNAL_ID, "ext-1"),
            (REGION, "eu-central-1"),
            (STS_REGION, "us-east-1"),
            (STS_ENDPOINT, "sts.example.com:8443"),
        ])
        .unwrap();
        assert!(matches!(o.credentials, CredentialMode::Static { .. }));
        assert_eq!(
            o.assume_role,
            Some(AssumeRole {
                role_arn: arn.to_string(),
                external_id: Some("ext-1".to_string()),
                sts_region: Some("us-east-1".to_string()),
                sts_endpoint: Some("https://sts.example.com:8443".to_string()),
            })
        );
        let o = parse(&[
            (USE_INSTANCE_PROFILE, "true"),
            (IAM_ROLE_ARN, arn),
            (REGION, "us-east-1"),
        ])
        .unwrap();
        assert_eq!(o.credentials, CredentialMode::InstanceProfile);
        assert!(o.assume_role.is_some());
        let o = parse(&[(IAM_ROLE_ARN, arn), (REGION, "us-east-1")]).unwrap();
        assert_eq!(o.credentials, CredentialMode::DefaultChain);
        // A role needs an explicit region.
        let e = err(&[(IAM_ROLE_ARN, arn)]);
        assert!(e.contains(REGION) && e.contains(IAM_ROLE_ARN), "{e}");
        let e = err(&[(IAM_ROLE_ARN, "backup"), (REGION, "us-east-1")]);
        assert!(e.contains(IAM_ROLE_ARN), "{e}");
    }

    #[test]
    fn endpoints_get_a_scheme_per_enable_ssl() {
        let o = parse(&[(ENDPOINT, "minio:9000")]).unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("https://minio:9000"));
        let o = parse(&[(ENDPOINT, "minio:9000/"), (ENABLE_SSL, "false")]).unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("http://minio:9000"));
        // A written scheme wins.
        let o = parse(&[(ENDPOINT, "http://127.0.0.1:9100")]).unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9100"));
        let o = parse(&[(ENDPOINT, "HTTPS://s3.example.com"), (ENABLE_SSL, "false")]).unwrap();
        assert_eq!(o.endpoint.as_deref(), Some("https://s3.example.com"));
        for bad in [
            "ftp://host",
            "http://",
            "host:port",
            "http://user@host",
            "a b",
        ] {
            let e = err(&[(ENDPOINT, bad)]);
            assert!(e.contains(ENDPOINT), "{bad}: {e}");
        }
        let e = err(&[(S3A_ENDPOINT, "ftp://x")]);
        assert!(e.contains(S3A_ENDPOINT), "{e}");
    }

    #[test]
    fn region_is_checked() {
        let e = err(&[(REGION, "us east")]);
        assert!(e.contains(REGION), "{e}");
        parse(&[(REGION, "auto")]).unwrap();
    }
}
