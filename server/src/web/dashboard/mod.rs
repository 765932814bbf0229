//! The vendor dashboard (`/admin`): server-rendered pages over the same domain operations
//! as the admin API. Every page needs an admin session; every form carries its CSRF token.

mod mail;

use std::future::Future;
use std::sync::Arc;

use bytes::Buf;
use futures_util::{StreamExt, TryStreamExt};
use licet_proto::ErrorCode;
use licet_proto::admin::{
    CreateProduct, ExtendLicense, IssueLicense, License, Product, ProductKind, UpdateProduct,
};
use maud::{Markup, html};
use serde::Deserialize;
use warp::Filter;
use warp::filters::BoxedFilter;
use warp::http::{HeaderMap, StatusCode};
use warp::reply::Response;

use crate::api::{body, client, query, with_app};
use crate::app::App;
use crate::auth::admin;
use crate::auth::sessions::{self, CSRF_COOKIE, Kind};
use crate::catalogue::{self, StatusChange};
use crate::licensing::Caller;
use crate::platform::error::{Error, Result};
use crate::store::{LicenseFilter, PurchaseFilter, PurchaseRow, SessionRow, parse_list};
use crate::web::shell::{
    self, cookie, copy_button, date, date_time, layout, page, parse_date, redirect,
};

/// Rows per list page.
const PAGE_SIZE: i64 = 50;

/// The request as every dashboard handler sees it: the app and the admin session, if any.
struct Ctx {
    app: Arc<App>,
    session: Result<Option<SessionRow>>,
}

fn ctx(app: Arc<App>) -> impl Filter<Extract = (Ctx,), Error = std::convert::Infallible> + Clone {
    warp::header::headers_cloned().then(move |headers: HeaderMap| {
        let app = app.clone();
        async move {
            let session = admin::session(&app, cookie(&headers, Kind::Admin.cookie())).await;
            Ctx { app, session }
        }
    })
}

fn error_page(e: &Error) -> Response {
    shell::error_page(e, ("/admin", "Back to the dashboard"))
}

/// Renders a page for a signed-in vendor (else the sign-in form).
async fn view<F, Fut>(cx: Ctx, f: F) -> Response
where
    F: FnOnce(Arc<App>, SessionRow) -> Fut,
    Fut: Future<Output = Result<Markup>>,
{
    match cx.session {
        Ok(Some(session)) => match f(cx.app, session).await {
            Ok(markup) => page(StatusCode::OK, markup),
            Err(e) => error_page(&e),
        },
        Ok(None) => redirect("/admin"),
        Err(e) => error_page(&e),
    }
}

/// Runs a form's action for a signed-in vendor whose form carries the session's CSRF token.
async fn act<T, F, Fut>(cx: Ctx, form: Result<T>, csrf: fn(&T) -> &str, f: F) -> Response
where
    F: FnOnce(Arc<App>, SessionRow, T) -> Fut,
    Fut: Future<Output = Result<Response>>,
{
    let r = async {
        let session = cx.session?.ok_or_else(|| {
            Error::new(ErrorCode::Unauthorized, "your session ended; sign in again")
        })?;
        let form = form?;
        sessions::check_csrf(&session.csrf, csrf(&form))?;
        f(cx.app, session, form).await
    }
    .await;
    r.unwrap_or_else(|e| error_page(&e))
}

/// Every dashboard route.
pub fn routes(app: Arc<App>) -> BoxedFilter<(Response,)> {
    let limit = app.config.max_body_bytes;
    let cx = || ctx(app.clone());

    // GET /admin: the overview, or the sign-in form.
    let home = warp::path!("admin")
        .and(warp::get())
        .and(cx())
        .and(warp::header::headers_cloned())
        .then(|cx: Ctx, headers: HeaderMap| async move {
            match &cx.session {
                Ok(Some(_)) => view(cx, |app, s| async move { overview(&app, &s).await }).await,
                Ok(None) => shell::sign_in_form(&cx.app, &headers, |csrf| sign_in_page(csrf, None)),
                Err(e) => error_page(e),
            }
        });
    // POST /admin/sign-in
    let sign_in = warp::path!("admin" / "sign-in")
        .and(warp::post())
        .and(with_app(app.clone()))
        .and(client(app.clone()))
        .and(warp::header::headers_cloned())
        .and(body::form::<SignInForm>(limit))
        .then(
            |app: Arc<App>, caller: Caller, headers: HeaderMap, form: Result<SignInForm>| async move {
                let expected = cookie(&headers, CSRF_COOKIE).unwrap_or_default();
                let r = async {
                    let form = form?;
                    sessions::check_csrf(expected, &form.csrf)?;
                    let device = cookie(&headers, admin::DEVICE_COOKIE);
                    admin::sign_in(&app, &caller.ip, device, &form.secret).await
                }
                .await;
                match r {
                    Ok(signed_in) => {
                        let mut res = redirect("/admin");
                        shell::set_cookie(
                            &mut res,
                            &app,
                            Kind::Admin.cookie(),
                            &signed_in.session.cookie,
                            admin::SESSION_SECS,
                        );
                        shell::set_cookie(
                            &mut res,
                            &app,
                            admin::DEVICE_COOKIE,
                            &signed_in.device,
                            admin::DEVICE_COOKIE_SECS,
                        );
                        res
                    }
                    Err(e) => page(
                        StatusCode::from_u16(e.code().http_status())
                            .unwrap_or(StatusCode::BAD_REQUEST),
                        sign_in_page(expected, Some(&e.public_message())),
                    ),
                }
            },
        );
    // POST /admin/sign-out
    let sign_out = warp::path!("admin" / "sign-out")
        .and(warp::post())
        .and(cx())
        .and(warp::header::headers_cloned())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |cx: Ctx, headers: HeaderMap, form: Result<CsrfForm>| async move {
                act(cx, form, CsrfForm::csrf, |app, _, _| async move {
                    sessions::end(
                        &app,
                        cookie(&headers, Kind::Admin.cookie()).unwrap_or_default(),
                    )
                    .await?;
                    let mut res = redirect("/admin");
                    shell::clear_cookie(&mut res, &app, Kind::Admin.cookie());
                    Ok(res)
                })
                .await
            },
        );

    // GET /admin/products
    let products = warp::path!("admin" / "products")
        .and(warp::get())
        .and(cx())
        .then(|cx: Ctx| async move {
            view(cx, |app, s| async move {
                let rows = app.store.products().await?;
                let products: Vec<Product> = rows.iter().map(|p| p.view()).collect();
                Ok(products_page(&s, &products))
            })
            .await
        });
    // GET /admin/products/new
    let new_product = warp::path!("admin" / "products" / "new")
        .and(warp::get())
        .and(cx())
        .then(|cx: Ctx| async move {
            view(cx, |_, s| async move {
                Ok(product_form_page(&s, None, &ProductForm::default(), None))
            })
            .await
        });
    // POST /admin/products: create; a refused form comes back with its input and the reason.
    let create_product = warp::path!("admin" / "products")
        .and(warp::post())
        .and(cx())
        .and(body::form::<ProductForm>(limit))
        .then(|cx: Ctx, form: Result<ProductForm>| async move {
            act(cx, form, ProductForm::csrf, |app, s, form| async move {
                let r = async {
                    let req = form.to_create()?;
                    catalogue::create_product(&app, &s.email, req).await
                }
                .await;
                match r {
                    Ok(p) => Ok(redirect(&format!("/admin/products/{}?saved=1", p.slug))),
                    Err(e @ Error::Api { .. }) => Ok(page(
                        StatusCode::BAD_REQUEST,
                        product_form_page(&s, None, &form, Some(&e.public_message())),
                    )),
                    Err(e) => Err(e),
                }
            })
            .await
        });
    // GET /admin/products/{slug}
    let show_product = warp::path!("admin" / "products" / String)
        .and(warp::get())
        .and(cx())
        .and(query::<SavedQuery>())
        .then(|slug: String, cx: Ctx, q: Result<SavedQuery>| async move {
            view(cx, |app, s| async move {
                let product = catalogue::product(&app, &slug).await?.view();
                let files = crate::commerce::downloads::files(&app, &slug).await?;
                let form = ProductForm::from_product(&product);
                let saved = q.map(|q| q.saved.is_some()).unwrap_or(false);
                Ok(product_page(&s, &product, &form, &files, None, saved))
            })
            .await
        });
    // POST /admin/products/{slug}: change the policy.
    let update_product = warp::path!("admin" / "products" / String)
        .and(warp::post())
        .and(cx())
        .and(body::form::<ProductForm>(limit))
        .then(
            |slug: String, cx: Ctx, form: Result<ProductForm>| async move {
                act(cx, form, ProductForm::csrf, |app, s, form| async move {
                    let r = async {
                        let current = catalogue::product(&app, &slug).await?.view();
                        let req = form.to_update(&current.metadata)?;
                        catalogue::update_product(&app, &s.email, &slug, req).await
                    }
                    .await;
                    match r {
                        Ok(p) => Ok(redirect(&format!("/admin/products/{}?saved=1", p.slug))),
                        Err(e @ Error::Api { .. }) => {
                            let product = catalogue::product(&app, &slug).await?.view();
                            let files = crate::commerce::downloads::files(&app, &slug).await?;
                            let msg = e.public_message();
                            Ok(page(
                                StatusCode::BAD_REQUEST,
                                product_page(&s, &product, &form, &files, Some(&msg), false),
                            ))
                        }
                        Err(e) => Err(e),
                    }
                })
                .await
            },
        );
    // POST /admin/products/{slug}/files: attach a file (multipart: `csrf` first, then `file`).
    let upload = warp::path!("admin" / "products" / String / "files")
        .and(warp::post())
        .and(cx())
        .and(warp::multipart::form().max_length(crate::commerce::downloads::MAX_FILE_BYTES))
        .then(
            |slug: String, cx: Ctx, form: warp::multipart::FormData| async move {
                let r = async {
                    let session = cx.session?.ok_or_else(|| {
                        Error::new(ErrorCode::Unauthorized, "your session ended; sign in again")
                    })?;
                    upload_file(&cx.app, &session, &slug, form).await
                }
                .await;
                match r {
                    Ok(()) => redirect(&format!("/admin/products/{slug}?saved=1")),
                    Err(e) => error_page(&e),
                }
            },
        );

    // GET /admin/purchases?email=&status=&from=&to=&failed=&page=
    let purchases = warp::path!("admin" / "purchases")
        .and(warp::get())
        .and(cx())
        .and(query::<PurchaseQuery>())
        .then(|cx: Ctx, q: Result<PurchaseQuery>| async move {
            view(cx, |app, s| async move {
                let q = q?;
                let filter = q.filter()?;
                let rows = app.store.purchases(&filter).await?;
                Ok(purchases_page(&s, &q, &rows))
            })
            .await
        });
    // GET /admin/purchases/{id}
    let purchase = warp::path!("admin" / "purchases" / String)
        .and(warp::get())
        .and(cx())
        .then(|id: String, cx: Ctx| async move {
            view(cx, |app, s| async move {
                let row = app
                    .store
                    .purchase(app.store.pool(), &id)
                    .await?
                    .ok_or_else(|| Error::new(ErrorCode::NotFound, "no such purchase"))?;
                let licenses = catalogue::licenses_of_purchase(&app, &row.id).await?;
                Ok(purchase_page(&s, &row, &licenses))
            })
            .await
        });
    // POST /admin/purchases/{id}/fulfil: retry fulfilment.
    let fulfil = warp::path!("admin" / "purchases" / String / "fulfil")
        .and(warp::post())
        .and(cx())
        .and(body::form::<CsrfForm>(limit))
        .then(|id: String, cx: Ctx, form: Result<CsrfForm>| async move {
            act(cx, form, CsrfForm::csrf, |app, s, _| async move {
                // A business failure is recorded on the purchase and shown on its page.
                match crate::commerce::sales::fulfil(&app, &s.email, &id).await {
                    Ok(_) | Err(Error::Api { .. }) => {}
                    Err(e) => return Err(e),
                }
                Ok(redirect(&format!("/admin/purchases/{id}")))
            })
            .await
        });

    // GET /admin/licenses?q=&product=&page=
    let licenses = warp::path!("admin" / "licenses")
        .and(warp::get())
        .and(cx())
        .and(query::<LicenseQuery>())
        .then(|cx: Ctx, q: Result<LicenseQuery>| async move {
            view(cx, |app, s| async move {
                let q = q?;
                let found = find_licenses(&app, &q).await?;
                let products = app.store.products().await?;
                let names: Vec<(String, String)> = products
                    .iter()
                    .map(|p| (p.slug.clone(), p.name.clone()))
                    .collect();
                Ok(licenses_page(
                    &s,
                    &q,
                    &found,
                    &names,
                    &IssueForm::default(),
                    None,
                ))
            })
            .await
        });
    // POST /admin/licenses: issue a license.
    let issue = warp::path!("admin" / "licenses")
        .and(warp::post())
        .and(cx())
        .and(body::form::<IssueForm>(limit))
        .then(|cx: Ctx, form: Result<IssueForm>| async move {
            act(cx, form, IssueForm::csrf, |app, s, form| async move {
                let r = async {
                    let expires_at = match form.expires.trim() {
                        "" => None,
                        d => Some(parse_date(d).ok_or_else(|| {
                            Error::invalid("the expiry must be a date (YYYY-MM-DD)")
                        })?),
                    };
                    let req = IssueLicense {
                        product: form.product.clone(),
                        email: form.email.trim().to_owned(),
                        expires_at,
                        max_activations: None,
                        token_lifetime_secs: None,
                        entitlements: None,
                    };
                    catalogue::issue_license(&app, &s.email, req).await
                }
                .await;
                match r {
                    Ok(lic) => Ok(redirect(&format!("/admin/licenses/{}", lic.id))),
                    Err(e @ Error::Api { .. }) => {
                        let products = app.store.products().await?;
                        let names: Vec<(String, String)> = products
                            .iter()
                            .map(|p| (p.slug.clone(), p.name.clone()))
                            .collect();
                        Ok(page(
                            StatusCode::BAD_REQUEST,
                            licenses_page(
                                &s,
                                &LicenseQuery::default(),
                                &[],
                                &names,
                                &form,
                                Some(&e.public_message()),
                            ),
                        ))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
        });
    // GET /admin/licenses/{id}
    let license = warp::path!("admin" / "licenses" / String)
        .and(warp::get())
        .and(cx())
        .then(|id: String, cx: Ctx| async move {
            view(cx, |app, s| async move {
                let lic = catalogue::show_license(&app, &id).await?;
                Ok(license_page(&s, &lic, None))
            })
            .await
        });
    // POST /admin/licenses/{id}/{suspend|reinstate|revoke}
    let status = warp::path!("admin" / "licenses" / String / String)
        .and(warp::post())
        .and(cx())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |id: String, action: String, cx: Ctx, form: Result<CsrfForm>| async move {
                act(cx, form, CsrfForm::csrf, |app, s, _| async move {
                    let change = match action.as_str() {
                        "suspend" => StatusChange::Suspend,
                        "reinstate" => StatusChange::Reinstate,
                        "revoke" => StatusChange::Revoke,
                        _ => return Err(Error::new(ErrorCode::NotFound, "no such license action")),
                    };
                    let lic = catalogue::change_status(&app, &s.email, &id, change).await?;
                    Ok(redirect(&format!("/admin/licenses/{}", lic.id)))
                })
                .await
            },
        );
    // POST /admin/licenses/{id}/extend: a new expiry date, or none (perpetual).
    let extend = warp::path!("admin" / "licenses" / String / "extend")
        .and(warp::post())
        .and(cx())
        .and(body::form::<ExtendForm>(limit))
        .then(|id: String, cx: Ctx, form: Result<ExtendForm>| async move {
            act(cx, form, ExtendForm::csrf, |app, s, form| async move {
                let r = async {
                    let expires_at = if form.perpetual.is_some() {
                        None
                    } else {
                        Some(parse_date(&form.expires).ok_or_else(|| {
                            Error::invalid(
                                "give the new expiry as a date (YYYY-MM-DD), or tick \u{201c}never expires\u{201d}",
                            )
                        })?)
                    };
                    catalogue::extend(&app, &s.email, &id, ExtendLicense { expires_at }).await
                }
                .await;
                match r {
                    Ok(lic) => Ok(redirect(&format!("/admin/licenses/{}", lic.id))),
                    Err(e @ Error::Api { .. }) => {
                        let lic = catalogue::show_license(&app, &id).await?;
                        let msg = e.public_message();
                        Ok(page(
                            StatusCode::BAD_REQUEST,
                            license_page(&s, &lic, Some((&msg, &form.expires))),
                        ))
                    }
                    Err(e) => Err(e),
                }
            })
            .await
        });
    // POST /admin/licenses/{id}/activations/{activation}/remove: free a seat.
    let remove = warp::path!("admin" / "licenses" / String / "activations" / String / "remove")
        .and(warp::post())
        .and(cx())
        .and(body::form::<CsrfForm>(limit))
        .then(
            |id: String, activation: String, cx: Ctx, form: Result<CsrfForm>| async move {
                act(cx, form, CsrfForm::csrf, |app, s, _| async move {
                    let lic =
                        catalogue::remove_activation(&app, &s.email, &id, &activation).await?;
                    Ok(redirect(&format!("/admin/licenses/{}", lic.id)))
                })
                .await
            },
        );

    home.or(sign_in)
        .unify()
        .or(sign_out)
        .unify()
        .boxed()
        .or(products
            .or(new_product)
            .unify()
            .or(create_product)
            .unify()
            .or(show_product)
            .unify()
            .or(update_product)
            .unify()
            .or(upload)
            .unify()
            .boxed())
        .unify()
        .or(purchases.or(purchase).unify().or(fulfil).unify().boxed())
        .unify()
        .or(mail::routes(app.clone()))
        .unify()
        .or(licenses
            .or(issue)
            .unify()
            .or(license)
            .unify()
            .or(extend)
            .unify()
            .or(status)
            .unify()
            .or(remove)
            .unify()
            .boxed())
        .unify()
        .boxed()
}

/// Streams an uploaded file into the product's files, after checking the form's CSRF token.
async fn upload_file(
    app: &App,
    session: &SessionRow,
    slug: &str,
    mut form: warp::multipart::FormData,
) -> Result<()> {
    let bad = |m: &str| Error::invalid(m.to_owned());
    let mut csrf_ok = false;
    while let Some(part) = form
        .try_next()
        .await
        .map_err(|e| Error::invalid(format!("invalid upload: {e}")))?
    {
        match part.name() {
            "csrf" => {
                let mut value = Vec::new();
                let mut stream = part.stream();
                while let Some(chunk) = stream.next().await {
                    let chunk =
                        chunk.map_err(|e| Error::invalid(format!("invalid upload: {e}")))?;
                    value.extend_from_slice(chunk.chunk());
                    if value.len() > 200 {
                        return Err(bad("invalid upload: the form token is too long"));
                    }
                }
                sessions::check_csrf(&session.csrf, &String::from_utf8_lossy(&value))?;
                csrf_ok = true;
            }
            "file" if csrf_ok => {
                let name = part
                    .filename()
                    .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| bad("choose a file to upload"))?;
                let content_type = part.content_type().map(str::to_owned);
                let stream = part
                    .stream()
                    .map_ok(|mut buf| buf.copy_to_bytes(buf.remaining()));
                crate::commerce::downloads::add_file(
                    app,
                    &session.email,
                    slug,
                    &name,
                    content_type.as_deref(),
                    stream,
                )
                .await?;
                return Ok(());
            }
            _ => {
                return Err(bad(
                    "invalid upload: expected the form token, then the file",
                ));
            }
        }
    }
    Err(bad("choose a file to upload"))
}

async fn find_licenses(app: &App, q: &LicenseQuery) -> Result<Vec<License>> {
    let text = q.q.as_deref().map(str::trim).unwrap_or_default();
    let (key, email) = if text.is_empty() {
        (None, None)
    } else if text.contains('@') {
        (None, Some(text.to_owned()))
    } else {
        (
            Some(
                app.key_format
                    .parse(text)
                    .unwrap_or_else(|| text.to_owned()),
            ),
            None,
        )
    };
    let filter = LicenseFilter {
        key,
        email,
        product: q.product.clone().filter(|p| !p.is_empty()),
        limit: PAGE_SIZE + 1,
        offset: q.page.unwrap_or(0).clamp(0, 100_000) * PAGE_SIZE,
    };
    catalogue::list_licenses(app, filter).await
}

async fn overview(app: &App, s: &SessionRow) -> Result<Markup> {
    let now = app.now();
    let today = now.div_euclid(86_400);
    let since = (today - 29) * 86_400;
    let totals = app.store.totals(now).await?;
    let sales = app.store.sales_per_day(since).await?;
    let revenue = app.store.revenue_since(since).await?;
    let activations = app.store.activations_per_day(since).await?;
    let by_product = app.store.active_licenses_by_product(now).await?;
    Ok(layout(
        "Overview",
        Some(nav(s, "overview")),
        html! {
            div class="cards" {
                div class="card" { strong { (totals.active_licenses) } " active licenses of " (totals.licenses) }
                div class="card" { strong { (totals.active_machines) } " machines activated" }
                div class="card" { strong { (totals.purchases) } " purchases"
                    @for (currency, amount) in &revenue { br; (money(*amount, currency)) " in the last 30 days" } }
                div class="card" {
                    @if totals.failed_fulfilments > 0 {
                        a href="/admin/purchases?failed=1" role="alert" { (totals.failed_fulfilments) " failed fulfilments" }
                    } @else { span class="ok" { "No failed fulfilments" } }
                    @if totals.failed_mail > 0 {
                        br;
                        a href="/admin/emails" role="alert" { (totals.failed_mail) " undelivered emails" }
                    }
                }
            }
            div class="cards" {
                section class="card" {
                    h2 { "Sales per day" }
                    (crate::web::charts::daily_bars("sales", "Sales per day, last 30 days", &sales, today, 30, "#1d5fd1"))
                }
                section class="card" {
                    h2 { "Activations per day" }
                    (crate::web::charts::daily_bars("activations", "New activations per day, last 30 days", &activations, today, 30, "#1a7f37"))
                }
            }
            section class="card" {
                h2 { "Active licenses by product" }
                (crate::web::charts::labelled_bars("by-product", "Active licenses by product", &by_product, "#8250df"))
            }
        },
    ))
}

/// An amount in a currency's smallest unit, shown with two decimals (`-0.50 EUR`).
fn money(amount: i128, currency: &str) -> String {
    let cur = currency.to_uppercase();
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    format!("{sign}{}.{:02} {cur}", abs / 100, abs % 100)
}

// ----- forms and queries -----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInForm {
    secret: String,
    csrf: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsrfForm {
    csrf: String,
}

impl CsrfForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedQuery {
    saved: Option<String>,
}

/// The product form, kept as typed text so a refused form shows what was entered.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    max_activations: String,
    #[serde(default)]
    license_days: String,
    #[serde(default)]
    token_days: String,
    #[serde(default)]
    entitlements: String,
    #[serde(default)]
    download_limit: String,
    #[serde(default)]
    access_url: String,
    #[serde(default)]
    stripe_price_ids: String,
}

impl ProductForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }

    fn from_product(p: &Product) -> Self {
        Self {
            csrf: String::new(),
            slug: p.slug.clone(),
            name: p.name.clone(),
            kind: p.kind.as_str().to_owned(),
            max_activations: p.max_activations.to_string(),
            license_days: p
                .license_duration_secs
                .map(|s| (s / 86_400).to_string())
                .unwrap_or_default(),
            token_days: (p.token_lifetime_secs / 86_400).to_string(),
            entitlements: p.entitlements.join(", "),
            download_limit: p.download_limit.to_string(),
            access_url: p
                .metadata
                .get("access_url")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
            stripe_price_ids: p.stripe_price_ids.join(", "),
        }
    }

    fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T> {
        text.trim()
            .parse()
            .map_err(|_| Error::invalid(format!("{what} must be a whole number")))
    }

    fn days(text: &str, what: &str) -> Result<Option<i64>> {
        match text.trim() {
            "" => Ok(None),
            t => {
                let d: i64 = Self::number(t, what)?;
                Ok(Some(d.saturating_mul(86_400)))
            }
        }
    }

    fn list(text: &str) -> Vec<String> {
        text.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn metadata(&self, mut base: serde_json::Value) -> Result<serde_json::Value> {
        let url = self.access_url.trim();
        if !url.is_empty() && !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(Error::invalid("the access link must start with https://"));
        }
        if let Some(map) = base.as_object_mut() {
            if url.is_empty() {
                map.remove("access_url");
            } else {
                map.insert("access_url".into(), url.into());
            }
        }
        Ok(base)
    }

    fn to_create(&self) -> Result<CreateProduct> {
        let kind = ProductKind::parse(self.kind.trim())
            .ok_or_else(|| Error::invalid("choose a kind: license, download or access"))?;
        Ok(CreateProduct {
            slug: self.slug.trim().to_owned(),
            name: self.name.trim().to_owned(),
            kind,
            max_activations: Self::number(&self.max_activations, "Machines per license")?,
            license_duration_secs: Self::days(&self.license_days, "License duration")?,
            token_lifetime_secs: Self::days(&self.token_days, "Offline lease")?
                .unwrap_or(licet_proto::admin::DEFAULT_TOKEN_LIFETIME_SECS),
            entitlements: Self::list(&self.entitlements),
            metadata: self.metadata(serde_json::json!({}))?,
            stripe_price_ids: Self::list(&self.stripe_price_ids),
            download_limit: Self::number(&self.download_limit, "Downloads per purchase")?,
        })
    }

    fn to_update(&self, metadata: &serde_json::Value) -> Result<UpdateProduct> {
        Ok(UpdateProduct {
            name: Some(self.name.trim().to_owned()),
            max_activations: Some(Self::number(&self.max_activations, "Machines per license")?),
            license_duration_secs: Some(Self::days(&self.license_days, "License duration")?),
            token_lifetime_secs: Some(
                Self::days(&self.token_days, "Offline lease")?
                    .unwrap_or(licet_proto::admin::DEFAULT_TOKEN_LIFETIME_SECS),
            ),
            entitlements: Some(Self::list(&self.entitlements)),
            metadata: Some(self.metadata(metadata.clone())?),
            stripe_price_ids: Some(Self::list(&self.stripe_price_ids)),
            download_limit: Some(Self::number(
                &self.download_limit,
                "Downloads per purchase",
            )?),
        })
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurchaseQuery {
    email: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    failed: Option<String>,
    page: Option<i64>,
}

impl PurchaseQuery {
    fn filter(&self) -> Result<PurchaseFilter> {
        let day = |d: &Option<String>, what: &str| -> Result<Option<i64>> {
            match d.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(t) => parse_date(t)
                    .map(Some)
                    .ok_or_else(|| Error::invalid(format!("{what} must be a date (YYYY-MM-DD)"))),
            }
        };
        Ok(PurchaseFilter {
            email: self.email.clone().filter(|e| !e.trim().is_empty()),
            status: self.status.clone().filter(|s| !s.is_empty()),
            failed_only: self.failed.as_deref().is_some_and(|f| !f.is_empty()),
            since: day(&self.from, "From")?,
            until: day(&self.to, "To")?.map(|t| t + 86_400),
            limit: PAGE_SIZE + 1,
            offset: self.page.unwrap_or(0).clamp(0, 100_000) * PAGE_SIZE,
        })
    }

    fn page_link(&self, page: i64) -> String {
        let q = PurchaseQuery {
            page: Some(page),
            ..self.clone()
        };
        let pairs = [
            ("email", q.email),
            ("status", q.status),
            ("from", q.from),
            ("to", q.to),
            ("failed", q.failed),
            ("page", q.page.map(|p| p.to_string())),
        ];
        let kept: Vec<(&str, String)> = pairs
            .into_iter()
            .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| (k, v)))
            .collect();
        format!(
            "/admin/purchases?{}",
            serde_urlencoded::to_string(kept).unwrap_or_default()
        )
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseQuery {
    q: Option<String>,
    product: Option<String>,
    page: Option<i64>,
}

impl LicenseQuery {
    fn page_link(&self, page: i64) -> String {
        let mut kept: Vec<(&str, String)> = Vec::new();
        if let Some(q) = self.q.clone().filter(|v| !v.is_empty()) {
            kept.push(("q", q));
        }
        if let Some(p) = self.product.clone().filter(|v| !v.is_empty()) {
            kept.push(("product", p));
        }
        kept.push(("page", page.to_string()));
        format!(
            "/admin/licenses?{}",
            serde_urlencoded::to_string(kept).unwrap_or_default()
        )
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    expires: String,
}

impl IssueForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendForm {
    csrf: String,
    #[serde(default)]
    expires: String,
    perpetual: Option<String>,
}

impl ExtendForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

// ----- pages -----

fn nav(s: &SessionRow, current: &str) -> Markup {
    let item = |href: &str, name: &str, label: &str| {
        html! {
            @if name == current { a href=(href) aria-current="page" { strong { (label) } } }
            @else { a href=(href) { (label) } }
        }
    };
    html! {
        nav aria-label="Dashboard" {
            (item("/admin", "overview", "Overview"))
            (item("/admin/products", "products", "Products"))
            (item("/admin/purchases", "purchases", "Purchases"))
            (item("/admin/licenses", "licenses", "Licenses"))
            form method="post" action="/admin/sign-out" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" { "Sign out" }
            }
        }
    }
}

fn sign_in_page(csrf: &str, error: Option<&str>) -> Markup {
    layout(
        "Licet dashboard",
        None,
        html! {
            p { "Sign in with an admin token (" code { "licet-server admin-token" } ") or the dashboard password (" code { "licet-server admin-password" } ")." }
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/admin/sign-in" {
                input type="hidden" name="csrf" value=(csrf);
                label for="secret" { "Admin token or password" }
                input type="password" id="secret" name="secret" required autocomplete="current-password";
                button type="submit" class="primary" { "Sign in" }
            }
        },
    )
}

fn products_page(s: &SessionRow, products: &[Product]) -> Markup {
    layout(
        "Products",
        Some(nav(s, "products")),
        html! {
            p { a href="/admin/products/new" { "New product" } }
            @if products.is_empty() {
                p { "No products yet." }
            } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Slug" } th scope="col" { "Kind" } th scope="col" { "Machines" } th scope="col" { "License" } th scope="col" { "Downloads" } } }
                    tbody { @for p in products { tr {
                        td { a href={"/admin/products/" (p.slug)} { (p.name) } }
                        td { code { (p.slug) } }
                        td { (p.kind.as_str()) }
                        td { (p.max_activations) }
                        td { @match p.license_duration_secs { Some(d) => { (d / 86_400) " days" }, None => "perpetual" } }
                        td { (p.download_limit) }
                    } } }
                } }
            }
        },
    )
}

fn product_fields(form: &ProductForm, creating: bool) -> Markup {
    html! {
        @if creating {
            label for="slug" { "Slug" }
            input id="slug" name="slug" required value=(form.slug) pattern="[a-z0-9][a-z0-9-]*" aria-describedby="slug-help";
            small id="slug-help" { "Lower-case letters, digits and dashes; it names the product in keys and tokens and cannot change." }
            label for="kind" { "Kind" }
            select id="kind" name="kind" {
                @for (v, label) in [("license", "License keys"), ("download", "Downloads"), ("access", "Access")] {
                    option value=(v) selected[form.kind == v || (form.kind.is_empty() && v == "license")] { (label) }
                }
            }
        }
        label for="name" { "Name" }
        input id="name" name="name" required value=(form.name);
        label for="max_activations" { "Machines per license" }
        input id="max_activations" name="max_activations" inputmode="numeric" required value=(if form.max_activations.is_empty() && creating { "3" } else { &form.max_activations });
        label for="license_days" { "License duration in days (empty: perpetual)" }
        input id="license_days" name="license_days" inputmode="numeric" value=(form.license_days);
        label for="token_days" { "Offline lease in days" }
        input id="token_days" name="token_days" inputmode="numeric" value=(if form.token_days.is_empty() && creating { "7" } else { &form.token_days });
        label for="entitlements" { "Entitlements (comma-separated)" }
        input id="entitlements" name="entitlements" value=(form.entitlements);
        label for="download_limit" { "Downloads per purchase" }
        input id="download_limit" name="download_limit" inputmode="numeric" required value=(if form.download_limit.is_empty() && creating { "5" } else { &form.download_limit });
        label for="stripe_price_ids" { "Stripe price ids (comma-separated)" }
        input id="stripe_price_ids" name="stripe_price_ids" value=(form.stripe_price_ids);
        @if creating || form.kind == "access" {
            label for="access_url" { "Access link (shown to customers of access products)" }
            input id="access_url" name="access_url" type="url" value=(form.access_url);
        }
        @if !creating { input type="hidden" name="kind" value=(form.kind); }
    }
}

fn product_form_page(
    s: &SessionRow,
    _product: Option<&Product>,
    form: &ProductForm,
    error: Option<&str>,
) -> Markup {
    layout(
        "New product",
        Some(nav(s, "products")),
        html! {
            @if let Some(e) = error { p role="alert" { (e) } }
            form method="post" action="/admin/products" {
                input type="hidden" name="csrf" value=(s.csrf);
                (product_fields(form, true))
                button type="submit" class="primary" { "Create product" }
            }
        },
    )
}

fn product_page(
    s: &SessionRow,
    p: &Product,
    form: &ProductForm,
    files: &[crate::commerce::downloads::FileView],
    error: Option<&str>,
    saved: bool,
) -> Markup {
    layout(
        &p.name,
        Some(nav(s, "products")),
        html! {
            p { code { (p.slug) } " · " (p.kind.as_str()) " · created " (date(p.created_at)) }
            @if saved { p class="ok" role="status" { "Saved." } }
            @if let Some(e) = error { p role="alert" { (e) } }
            section {
                h2 { "Policy" }
                form method="post" action={"/admin/products/" (p.slug)} {
                    input type="hidden" name="csrf" value=(s.csrf);
                    (product_fields(form, false))
                    button type="submit" class="primary" { "Save policy" }
                }
            }
            section {
                h2 { "Files" }
                @if files.is_empty() { p { "No files." } } @else {
                    div class="scroll" { table {
                        thead { tr { th scope="col" { "Name" } th scope="col" { "Size" } th scope="col" { "SHA-256" } } }
                        tbody { @for f in files { tr { td { (f.name) } td { (f.size) " bytes" } td { code { (f.sha256) } } } } }
                    } }
                }
                form method="post" action={"/admin/products/" (p.slug) "/files"} enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="file" { "Attach a file (a file of the same name is replaced)" }
                    input type="file" id="file" name="file" required;
                    button type="submit" { "Upload" }
                }
            }
        },
    )
}

fn status_badge(status: &str) -> Markup {
    html! { span class={"status-" (status)} { (status.to_lowercase()) } }
}

fn purchases_page(s: &SessionRow, q: &PurchaseQuery, rows: &[PurchaseRow]) -> Markup {
    let page_no = q.page.unwrap_or(0).max(0);
    let more = rows.len() as i64 > PAGE_SIZE;
    layout(
        "Purchases",
        Some(nav(s, "purchases")),
        html! {
            form method="get" action="/admin/purchases" class="row" role="search" {
                div { label for="email" { "Email" } input type="email" id="email" name="email" value=(q.email.as_deref().unwrap_or("")); }
                div { label for="status" { "Status" }
                    select id="status" name="status" {
                        option value="" { "any" }
                        @for st in ["PENDING", "COMPLETED", "FAILED", "REFUNDED", "DISPUTED"] {
                            option value=(st) selected[q.status.as_deref() == Some(st)] { (st.to_lowercase()) }
                        }
                    }
                }
                div { label for="from" { "From" } input type="date" id="from" name="from" value=(q.from.as_deref().unwrap_or("")); }
                div { label for="to" { "To" } input type="date" id="to" name="to" value=(q.to.as_deref().unwrap_or("")); }
                div { label for="failed" { "Failed only" } input type="checkbox" id="failed" name="failed" value="1" checked[q.failed.as_deref().is_some_and(|f| !f.is_empty())]; }
                div { button type="submit" { "Search" } }
            }
            @if rows.is_empty() { p { "No purchases match." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Date" } th scope="col" { "Email" } th scope="col" { "Products" } th scope="col" { "Amount" } th scope="col" { "Status" } th scope="col" { "Fulfilment" } } }
                    tbody { @for p in rows.iter().take(PAGE_SIZE as usize) { tr {
                        td { a href={"/admin/purchases/" (p.id)} { (date_time(p.created_at)) } }
                        td { (p.email) }
                        td { (parse_list(&p.products).join(", ")) }
                        td { @if let Some(a) = p.amount { (money(a.into(), p.currency.as_deref().unwrap_or(""))) } }
                        td { (status_badge(&p.status)) }
                        td { (fulfilment_state(p)) }
                    } } }
                } }
            }
            p {
                @if page_no > 0 { a href=(q.page_link(page_no - 1)) { "← Newer" } " " }
                @if more { a href=(q.page_link(page_no + 1)) { "Older →" } }
            }
        },
    )
}

fn fulfilment_state(p: &PurchaseRow) -> Markup {
    html! {
        @if let Some(e) = &p.fulfilment_error { span role="alert" { "failed: " (e) } }
        @else if p.fulfilled_at.is_some() {
            "fulfilled" @if p.delivered_at.is_some() { ", emailed" } @else { ", email pending" }
        }
        @else { "not fulfilled" }
    }
}

fn purchase_page(s: &SessionRow, p: &PurchaseRow, licenses: &[License]) -> Markup {
    layout(
        "Purchase",
        Some(nav(s, "purchases")),
        html! {
            div class="scroll" { table {
                tbody {
                    tr { th scope="row" { "Id" } td { code { (p.id) } } }
                    tr { th scope="row" { "Email" } td { (p.email) } }
                    tr { th scope="row" { "Products" } td { (parse_list(&p.products).join(", ")) } }
                    tr { th scope="row" { "Date" } td { (date_time(p.created_at)) } }
                    tr { th scope="row" { "Amount" } td { @if let Some(a) = p.amount { (money(a.into(), p.currency.as_deref().unwrap_or(""))) } } }
                    tr { th scope="row" { "Provider" } td { (p.provider) " " @if let Some(pi) = &p.provider_payment_id { code { (pi) } } } }
                    tr { th scope="row" { "Status" } td { (status_badge(&p.status))
                        @if p.status == "REFUNDED" { " — licenses revoked, downloads and access ended" } } }
                    tr { th scope="row" { "Fulfilment" } td { (fulfilment_state(p)) } }
                    tr { th scope="row" { "Downloads" } td { (p.download_count) " of " (p.download_limit) } }
                }
            } }
            @if p.fulfilled_at.is_none() && p.status == "COMPLETED" {
                form method="post" action={"/admin/purchases/" (p.id) "/fulfil"} {
                    input type="hidden" name="csrf" value=(s.csrf);
                    button type="submit" class="primary" { "Retry fulfilment" }
                }
            }
            @if !licenses.is_empty() {
                h2 { "Licenses" }
                ul { @for l in licenses { li { a href={"/admin/licenses/" (l.id)} { code { (l.key) } } " " (status_badge(l.status.as_str())) } } }
            }
        },
    )
}

fn licenses_page(
    s: &SessionRow,
    q: &LicenseQuery,
    found: &[License],
    products: &[(String, String)],
    issue: &IssueForm,
    error: Option<&str>,
) -> Markup {
    let page_no = q.page.unwrap_or(0).max(0);
    let more = found.len() as i64 > PAGE_SIZE;
    layout(
        "Licenses",
        Some(nav(s, "licenses")),
        html! {
            form method="get" action="/admin/licenses" class="row" role="search" {
                div { label for="q" { "Key or email" } input id="q" name="q" value=(q.q.as_deref().unwrap_or("")); }
                div { label for="product" { "Product" }
                    select id="product" name="product" {
                        option value="" { "any" }
                        @for (slug, name) in products { option value=(slug) selected[q.product.as_deref() == Some(slug)] { (name) } }
                    }
                }
                div { button type="submit" { "Search" } }
            }
            @if found.is_empty() { p { "No licenses match." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Key" } th scope="col" { "Product" } th scope="col" { "Email" } th scope="col" { "Status" } th scope="col" { "Machines" } th scope="col" { "Expires" } } }
                    tbody { @for l in found.iter().take(PAGE_SIZE as usize) { tr {
                        td { a href={"/admin/licenses/" (l.id)} { code { (l.key) } } }
                        td { (l.product) }
                        td { (l.email) }
                        td { (status_badge(l.status.as_str())) }
                        td { (l.active_activations) " / " (l.max_activations) }
                        td { @match l.expires_at { Some(t) => (date(t)), None => "never" } }
                    } } }
                } }
            }
            p {
                @if page_no > 0 { a href=(q.page_link(page_no - 1)) { "← Newer" } " " }
                @if more { a href=(q.page_link(page_no + 1)) { "Older →" } }
            }
            section {
                h2 id="issue" { "Issue a license" }
                @if let Some(e) = error { p role="alert" { (e) } }
                form method="post" action="/admin/licenses" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="issue-product" { "Product" }
                    select id="issue-product" name="product" required {
                        @for (slug, name) in products { option value=(slug) selected[issue.product == *slug] { (name) } }
                    }
                    label for="issue-email" { "Customer email" }
                    input type="email" id="issue-email" name="email" required value=(issue.email);
                    label for="issue-expires" { "Expires (empty: the product's duration)" }
                    input type="date" id="issue-expires" name="expires" value=(issue.expires);
                    button type="submit" class="primary" { "Issue license" }
                }
            }
        },
    )
}

fn license_page(s: &SessionRow, l: &License, extend_error: Option<(&str, &str)>) -> Markup {
    let status = l.status.as_str();
    let action = |name: &str, label: &str, class: &str| {
        html! {
            form method="post" action={"/admin/licenses/" (l.id) "/" (name)} class="inline" {
                input type="hidden" name="csrf" value=(s.csrf);
                button type="submit" class=(class) { (label) }
            }
        }
    };
    layout(
        "License",
        Some(nav(s, "licenses")),
        html! {
            p { code id="license-key" { (l.key) } " " (copy_button(&l.key, "Copy the license key")) }
            div class="scroll" { table { tbody {
                tr { th scope="row" { "Product" } td { (l.product) } }
                tr { th scope="row" { "Email" } td { (l.email) } }
                tr { th scope="row" { "Status" } td { (status_badge(status)) } }
                tr { th scope="row" { "Expires" } td { @match l.expires_at { Some(t) => (date(t)), None => "never" } } }
                tr { th scope="row" { "Machines" } td { (l.active_activations) " of " (l.max_activations) } }
                tr { th scope="row" { "Entitlements" } td { (l.entitlements.join(", ")) } }
                tr { th scope="row" { "Issued" } td { (date_time(l.created_at)) } }
            } } }
            p {
                @if status == "ACTIVE" { (action("suspend", "Suspend", "")) }
                @if status == "SUSPENDED" { (action("reinstate", "Reinstate", "")) }
                @if status != "REVOKED" { (action("revoke", "Revoke", "danger")) }
            }
            @if status != "REVOKED" {
                section {
                    h2 { "Extend" }
                    @if let Some((e, _)) = extend_error { p role="alert" { (e) } }
                    form method="post" action={"/admin/licenses/" (l.id) "/extend"} class="row" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        div { label for="expires" { "New expiry" }
                            input type="date" id="expires" name="expires" value=(extend_error.map(|e| e.1.to_owned()).or(l.expires_at.map(date)).unwrap_or_default()); }
                        div { label for="perpetual" { "Never expires" } input type="checkbox" id="perpetual" name="perpetual" value="1"; }
                        div { button type="submit" { "Set expiry" } }
                    }
                }
            }
            h2 { "Machines" }
            @let acts = l.activations.as_deref().unwrap_or_default();
            @if acts.is_empty() { p { "Never activated." } } @else {
                div class="scroll" { table {
                    thead { tr { th scope="col" { "Machine" } th scope="col" { "Platform" } th scope="col" { "First seen" } th scope="col" { "Last seen" } th scope="col" { "State" } } }
                    tbody { @for a in acts { tr {
                        td { (a.name.as_deref().unwrap_or("unnamed")) }
                        td { (a.platform.as_deref().unwrap_or("")) }
                        td { (date_time(a.first_seen_at)) }
                        td { (date_time(a.last_seen_at)) }
                        td {
                            @if let Some(t) = a.deactivated_at { "deactivated " (date(t)) } @else {
                                form method="post" action={"/admin/licenses/" (l.id) "/activations/" (a.id) "/remove"} {
                                    input type="hidden" name="csrf" value=(s.csrf);
                                    button type="submit" class="danger" { "Remove" }
                                }
                            }
                        }
                    } } }
                } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::money;

    #[test]
    fn money_shows_two_decimals_and_the_sign_of_any_amount() {
        assert_eq!(money(0, "usd"), "0.00 USD");
        assert_eq!(money(1999, "eur"), "19.99 EUR");
        assert_eq!(money(-50, "eur"), "-0.50 EUR");
        assert_eq!(money(-150, "eur"), "-1.50 EUR");
        assert_eq!(money(i128::from(i64::MIN), ""), "-92233720368547758.08 ");
    }
}
