//! Key handlers and the authenticator over the in-memory repository.

use std::sync::Arc;

use orchestra_domain::Role;

use super::*;
use crate::ports::ApiKeyRepository;
use crate::testing::{InMemoryApiKeyRepository, ManualClock};

fn handlers() -> (
    CreateApiKeyHandler,
    RevokeApiKeyHandler,
    Authenticator,
    Arc<dyn ApiKeyRepository>,
) {
    let repo: Arc<dyn ApiKeyRepository> = Arc::new(InMemoryApiKeyRepository::default());
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::fixed());
    let auth = Authenticator::new(repo.clone());
    (
        CreateApiKeyHandler::new(repo.clone(), clock.clone()),
        RevokeApiKeyHandler::new(repo.clone(), clock, Some(auth.clone())),
        auth,
        repo,
    )
}

#[tokio::test]
async fn a_new_key_authenticates_as_its_principal_and_only_its_hash_is_stored() {
    let (create, _, auth, repo) = handlers();
    let (stored, secret) = create.handle("ci", Role::Operator).await.unwrap();
    assert!(looks_like_key(&secret));
    assert_ne!(stored.key_hash, secret);
    assert!(!format!("{:?}", repo.list().await.unwrap()).contains(&secret[KEY_PREFIX.len()..]));
    let who = auth.authenticate(&secret).await.unwrap();
    assert_eq!((who.name(), who.role()), ("key:ci", Role::Operator));
}

#[tokio::test]
async fn unknown_malformed_and_revoked_keys_are_refused() {
    let (create, revoke, auth, _) = handlers();
    let (_, secret) = create.handle("alice", Role::Approver).await.unwrap();
    assert!(auth.authenticate(&secret).await.is_ok());
    assert!(matches!(
        auth.authenticate("orch_nothex").await,
        Err(AuthError::Invalid)
    ));
    let unknown = format!("{KEY_PREFIX}{}", "0".repeat(64));
    assert!(matches!(
        auth.authenticate(&unknown).await,
        Err(AuthError::Invalid)
    ));
    revoke.handle("alice").await.unwrap();
    assert!(
        matches!(auth.authenticate(&secret).await, Err(AuthError::Invalid)),
        "revocation must bypass the cache"
    );
    assert!(
        revoke.handle("alice").await.is_err(),
        "revoking twice is not found"
    );
}

#[tokio::test]
async fn key_names_are_unique_and_checked() {
    let (create, _, _, _) = handlers();
    create.handle("ci", Role::Viewer).await.unwrap();
    assert!(matches!(
        create.handle("ci", Role::Admin).await,
        Err(AppError::Conflict { .. })
    ));
    assert!(matches!(
        create.handle("no spaces", Role::Admin).await,
        Err(AppError::Invalid(_))
    ));
}

#[test]
fn two_keys_are_never_the_same() {
    let a = generate_key().unwrap();
    let b = generate_key().unwrap();
    assert_ne!(a, b);
    assert!(looks_like_key(&a) && looks_like_key(&b));
}
