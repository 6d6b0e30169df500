//! TLS material generated at run time: a CA, and a server and a client certificate it signed.

use std::io;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// PEM texts for a TLS test server and a client of it.
///
/// The server certificate is valid for `localhost` and `127.0.0.1`; the client
/// certificate is for mutual TLS. Both are signed by the same throwaway CA.
pub(crate) struct Material {
    /// The CA certificate, to trust on either side.
    pub(crate) ca_cert: String,
    /// The server certificate.
    pub(crate) server_cert: String,
    /// The server's private key (PKCS#8).
    pub(crate) server_key: String,
    /// The client certificate.
    pub(crate) client_cert: String,
    /// The client's private key (PKCS#8).
    pub(crate) client_key: String,
}

/// Generates a fresh CA and the server and client certificates it signs.
pub(crate) fn generate() -> io::Result<Material> {
    let ca_key = KeyPair::generate().map_err(io::Error::other)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = common_name("xtask throwaway test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
    let ca = Issuer::new(ca_params, ca_key);

    let (server_cert, server_key) = leaf(
        &ca,
        "localhost",
        vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client_cert, client_key) = leaf(
        &ca,
        "xtask test client",
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;

    Ok(Material {
        ca_cert: ca_cert.pem(),
        server_cert,
        server_key,
        client_cert,
        client_key,
    })
}

/// Signs a new end-entity certificate and returns it with its key, both PEM.
fn leaf(
    ca: &Issuer<'_, KeyPair>,
    name: &str,
    subject_alt_names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> io::Result<(String, String)> {
    let key = KeyPair::generate().map_err(io::Error::other)?;
    let mut params = CertificateParams::new(subject_alt_names).map_err(io::Error::other)?;
    // A subject distinct from the CA's keeps OpenSSL from taking the leaf for
    // a self-issued certificate while it builds the chain.
    params.distinguished_name = common_name(name);
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca).map_err(io::Error::other)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}
