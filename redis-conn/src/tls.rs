//! TLS through rustls: the client configuration built once from the roots
//! and client certificate given, and the TLS handshake over TCP.

use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::{ConfigError, ConnectionConfig, Error, Result};

/// Runs the TLS handshake over `tcp`, verifying the server certificate
/// against [`ConnectionConfig::tls_server_name`].
pub(crate) async fn connect(
    tcp: TcpStream,
    config: &ConnectionConfig,
) -> Result<TlsStream<TcpStream>> {
    let client_config = client_config(config)?;
    let name = config.tls_server_name().unwrap_or_default();
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| ConfigError::InvalidServerName(name.to_owned()))?;
    let connector = tokio_rustls::TlsConnector::from(client_config);
    Ok(connector.connect(server_name, tcp).await?)
}

/// The rustls configuration: the one given, or the one built at the first
/// connection and shared by every clone of the config since.
fn client_config(config: &ConnectionConfig) -> Result<Arc<ClientConfig>> {
    let options = &config.tls;
    if let Some(custom) = &options.custom {
        return Ok(custom.clone());
    }
    if let Some(built) = options.cache.get() {
        return Ok(built.clone());
    }
    let built = Arc::new(build(config)?);
    // Another connection may have built it meanwhile; either is as good.
    Ok(options.cache.get_or_init(|| built).clone())
}

fn build(config: &ConnectionConfig) -> Result<ClientConfig> {
    let options = &config.tls;
    let mut roots = RootCertStore::empty();
    match &options.root {
        Some(source) => {
            const WHAT: &str = "root certificate";
            let pem = source.load(WHAT)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| pem_error(WHAT, e))?;
                roots.add(cert).map_err(ConfigError::Tls)?;
            }
            if roots.is_empty() {
                return Err(pem_error(WHAT, pem::Error::NoItemsFound));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::debug!(error = %e, "skipped unreadable system root certificates");
            }
            let (_added, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                tracing::debug!(ignored, "skipped unparsable system root certificates");
            }
            if roots.is_empty() {
                return Err(ConfigError::NoRootCertificates.into());
            }
        }
    }

    // An explicit provider: the process default may be unset, or ambiguous
    // when several providers are compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Tls)?
        .with_root_certificates(roots);
    let client_config = match &options.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            const CERT: &str = "client certificate";
            const KEY: &str = "client key";
            let chain = CertificateDer::pem_slice_iter(&cert.load(CERT)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| pem_error(CERT, e))?;
            if chain.is_empty() {
                return Err(pem_error(CERT, pem::Error::NoItemsFound));
            }
            let key =
                PrivateKeyDer::from_pem_slice(&key.load(KEY)?).map_err(|e| pem_error(KEY, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(ConfigError::Tls)?
        }
    };
    Ok(client_config)
}

fn pem_error(what: &'static str, e: pem::Error) -> Error {
    Error::Config(ConfigError::Pem {
        what,
        source: Arc::new(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, PemSource};

    fn config() -> ConnectionConfig {
        ConnectionConfig::new(Address::tcp("localhost", 1)).with_tls(true)
    }

    #[test]
    fn bad_pem_names_the_file_and_the_problem() {
        let e = build(&config().with_tls_root_pem(&b"not a pem"[..])).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Config(ConfigError::Pem {
                    what: "root certificate",
                    ..
                })
            ),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "invalid configuration: invalid root certificate pem: no items found"
        );

        let missing = std::path::PathBuf::from("/nonexistent/ca.pem");
        let e = build(&config().with_tls_root_pem(missing)).unwrap_err();
        assert!(
            matches!(
                &e,
                Error::Config(ConfigError::PemFile {
                    what: "root certificate",
                    ..
                })
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_built_config_is_shared_by_clones() {
        let Ok(first) = client_config(&config()) else {
            // No system roots on this machine: nothing to cache.
            return;
        };
        let config = config();
        let a = client_config(&config).unwrap();
        let b = client_config(&config.clone()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&first, &a));
        // Changing the TLS settings starts afresh.
        let changed = config.with_tls_root_pem(PemSource::Bytes(Vec::new()));
        assert!(client_config(&changed).is_err());
    }
}
