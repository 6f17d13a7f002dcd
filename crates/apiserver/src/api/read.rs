//! Reading: get, list (as a Table when kubectl asks for one) and watch from the watch cache.

use serde_json::{json, Value};

use super::{with_version, Api, ApiRequest, ApiResponse, Selectors};

use crate::meta::meta_str;
use crate::registry::Resource;
use crate::status;
use crate::store::StoreError;
use crate::table;
use crate::watch::{Start, Target, WatchOptions, WatchStream};

impl Api {
    pub(super) async fn get(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        match self.inner.store.get(&r.key(ns, name)).await? {
            Some(stored) => {
                let obj = with_version(stored);
                if table::wants_table(&req.accept) {
                    let rv = meta_str(&obj, "resourceVersion").to_string();
                    return Ok(ApiResponse::json(
                        200,
                        &table::table(r, &[obj], &rv, self.inner.clock.now()),
                    ));
                }
                Ok(ApiResponse::json(200, &obj))
            }
            None => Ok(ApiResponse::status(status::not_found(
                r.name, r.group, name,
            ))),
        }
    }

    pub(super) async fn list_objects(
        &self,
        r: &Resource,
        ns: Option<&str>,
        selectors: &Selectors,
    ) -> Result<(Vec<Value>, i64), StoreError> {
        let (items, revision) = self.inner.store.list(&r.prefix(ns)).await?;
        let objects = items
            .into_iter()
            .map(with_version)
            .filter(|o| selectors.matches(o))
            .collect();
        Ok((objects, revision))
    }

    pub(super) async fn list(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
    ) -> Result<ApiResponse, StoreError> {
        let selectors = Selectors::parse(&req.query);
        let (objects, revision) = self.list_objects(r, ns, &selectors).await?;
        let rv = revision.to_string();
        if table::wants_table(&req.accept) {
            return Ok(ApiResponse::json(
                200,
                &table::table(r, &objects, &rv, self.inner.clock.now()),
            ));
        }
        Ok(ApiResponse::json(
            200,
            &json!({"kind": r.list_kind(), "apiVersion": r.api_version(), "metadata": {"resourceVersion": rv}, "items": objects}),
        ))
    }

    /// `?watch=true`: options read and checked as kube-apiserver does, then a stream from the
    /// watch cache (see [`crate::watch`] for what each resourceVersion means).
    pub(super) async fn watch(
        &self,
        req: &ApiRequest,
        r: &Resource,
        ns: Option<&str>,
        name: &str,
    ) -> Result<ApiResponse, StoreError> {
        let options = match WatchOptions::parse(&req.query) {
            Ok(o) => o,
            Err(refusal) => return Ok(ApiResponse::status(refusal)),
        };
        let mut selectors = Selectors::parse(&req.query);
        if !name.is_empty() {
            selectors = selectors.with_name(name);
        }
        let requested = match options.requested_revision() {
            Ok(rv) => rv,
            Err(refusal) => return Ok(ApiResponse::status(refusal)),
        };
        self.begin_watch_cache().await?;
        let cache = &self.inner.watch_cache;
        let target = Target {
            prefix: r.prefix(ns),
            selectors: selectors.clone(),
            kind: r.kind,
            api_version: r.api_version(),
        };
        let start = match options.send_initial_events {
            Some(true) => {
                if let Err(status) = cache.wait_until_fresh(requested).await {
                    return Ok(ApiResponse::Watch(Box::new(WatchStream::error(&status))));
                }
                // No write lands between the list and the cache position it starts from.
                let order = self.inner.writes.lock().await;
                let (objects, _) = self.list_objects(r, ns, &selectors).await?;
                let (cursor, current) = cache.position_now();
                drop(order);
                Start::Initial {
                    objects,
                    cursor,
                    current,
                }
            }
            // `sendInitialEvents=false` from "" or "0": from now on.
            Some(false) if requested == 0 => {
                Start::After(u64::try_from(cache.current()).unwrap_or(0))
            }
            _ => Start::After(requested),
        };
        Ok(ApiResponse::Watch(Box::new(
            cache.stream(target, &options, start),
        )))
    }
}
