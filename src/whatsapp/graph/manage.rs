//! Account-management calls: onboarding, business profile, templates, media
//! and 360dialog's webhook registration, for either provider where it has
//! them. See <https://developers.facebook.com/docs/whatsapp/business-management-api>
//! and <https://docs.360dialog.com/docs/waba-management>.

use super::{Endpoint, HttpRequest, Provider};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

/// Fields read from and written to the business profile.
pub const PROFILE_FIELDS: &str =
    "about,address,description,email,profile_picture_url,websites,vertical";
/// Fields read for each template.
pub const TEMPLATE_FIELDS: &str = "id,name,language,status,category,components,rejected_reason";

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

impl Endpoint {
    fn graph_url(&self, path: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base.trim_end_matches('/'),
            self.version,
            path.trim_start_matches('/')
        )
    }

    fn d360_url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }

    fn request(&self, method: &'static str, url: String, body: Option<Value>) -> HttpRequest {
        let mut headers = vec![self.auth_header()];
        if body.is_some() {
            headers.push(("Content-Type", "application/json".to_owned()));
        }
        HttpRequest {
            method,
            url,
            headers,
            body: body.map(|b| b.to_string().into_bytes()),
        }
    }

    /// The WABA's phone numbers (Meta only).
    pub fn list_phone_numbers(&self, waba_id: &str) -> HttpRequest {
        let url = self.graph_url(&format!(
            "{waba_id}/phone_numbers?fields=id,display_phone_number,verified_name,\
quality_rating,code_verification_status,messaging_limit_tier,status"
        ));
        self.request("GET", url, None)
    }

    /// Registers the number for the Cloud API with its two-step PIN (Meta only).
    pub fn register(&self, pin: &str) -> HttpRequest {
        let url = self.graph_url(&format!("{}/register", self.phone_number_id));
        let body = json!({"messaging_product": "whatsapp", "pin": pin});
        self.request("POST", url, Some(body))
    }

    /// Subscribes the app to the WABA's webhooks (Meta only).
    pub fn subscribe_app(&self, waba_id: &str) -> HttpRequest {
        self.request(
            "POST",
            self.graph_url(&format!("{waba_id}/subscribed_apps")),
            None,
        )
    }

    /// Lists the apps subscribed to the WABA (Meta only).
    pub fn subscribed_apps(&self, waba_id: &str) -> HttpRequest {
        self.request(
            "GET",
            self.graph_url(&format!("{waba_id}/subscribed_apps")),
            None,
        )
    }

    /// Reads the business profile.
    pub fn get_profile(&self) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => self.graph_url(&format!(
                "{}/whatsapp_business_profile?fields={PROFILE_FIELDS}",
                self.phone_number_id
            )),
            Provider::Dialog360 => self.d360_url(&format!(
                "whatsapp_business_profile?fields={PROFILE_FIELDS}"
            )),
        };
        self.request("GET", url, None)
    }

    /// Updates the business profile with validated `fields`.
    pub fn update_profile(&self, fields: &Value) -> HttpRequest {
        let mut body = fields.clone();
        if let Some(obj) = body.as_object_mut() {
            obj.insert("messaging_product".into(), json!("whatsapp"));
        }
        let url = match self.provider {
            Provider::Meta => self.graph_url(&format!(
                "{}/whatsapp_business_profile",
                self.phone_number_id
            )),
            Provider::Dialog360 => self.d360_url("whatsapp_business_profile"),
        };
        self.request("POST", url, Some(body))
    }

    /// One page of the WABA's templates; `after` is Graph's paging cursor.
    pub fn list_templates(&self, waba_id: &str, after: Option<&str>) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => {
                let mut url = self.graph_url(&format!(
                    "{waba_id}/message_templates?limit=100&fields={TEMPLATE_FIELDS}"
                ));
                if let Some(a) = after {
                    url.push_str(&format!("&after={}", enc(a)));
                }
                url
            }
            Provider::Dialog360 => {
                let mut url = self.d360_url("v1/configs/templates?limit=100");
                if let Some(a) = after {
                    url.push_str(&format!("&after={}", enc(a)));
                }
                url
            }
        };
        self.request("GET", url, None)
    }

    /// Submits a validated template for review.
    pub fn create_template(&self, waba_id: &str, template: &Value) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => self.graph_url(&format!("{waba_id}/message_templates")),
            Provider::Dialog360 => self.d360_url("v1/configs/templates"),
        };
        self.request("POST", url, Some(template.clone()))
    }

    /// Deletes a template by name (every language of it).
    pub fn delete_template(&self, waba_id: &str, name: &str) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => {
                self.graph_url(&format!("{waba_id}/message_templates?name={}", enc(name)))
            }
            Provider::Dialog360 => self.d360_url(&format!("v1/configs/templates/{}", enc(name))),
        };
        self.request("DELETE", url, None)
    }

    /// Looks up a media id's download URL.
    pub fn media_info(&self, media_id: &str) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => self.graph_url(&format!(
                "{}?phone_number_id={}",
                enc(media_id),
                self.phone_number_id
            )),
            Provider::Dialog360 => self.d360_url(&enc(media_id)),
        };
        self.request("GET", url, None)
    }

    /// Downloads media from the URL `media_info` returned. Through
    /// 360dialog, Meta's media host is reached via the proxy.
    pub fn media_download(&self, url: &str) -> HttpRequest {
        let url = match self.provider {
            Provider::Meta => url.to_owned(),
            Provider::Dialog360 => match url.strip_prefix("https://lookaside.fbsbx.com") {
                Some(rest) => format!("{}{rest}", self.base.trim_end_matches('/')),
                None => url.to_owned(),
            },
        };
        self.request("GET", url, None)
    }

    /// Fetches the business profile's photo from the `profile_picture_url`
    /// Graph gave, when it is an `https` URL (or one under the configured
    /// Graph base, as a local fake serves it). The URL is signed by
    /// WhatsApp's CDN, so no credential is sent with it.
    pub fn profile_photo(&self, url: &str) -> Option<HttpRequest> {
        let under_base = url
            .strip_prefix(self.base.trim_end_matches('/'))
            .is_some_and(|rest| rest.starts_with('/'));
        (url.starts_with("https://") || under_base).then(|| HttpRequest {
            method: "GET",
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
        })
    }

    /// Where a media upload goes (the body is multipart, built by the edge).
    pub fn media_upload_url(&self) -> String {
        match self.provider {
            Provider::Meta => self.graph_url(&format!("{}/media", self.phone_number_id)),
            Provider::Dialog360 => self.d360_url("media"),
        }
    }

    /// Sets this 360dialog number's webhook URL and the headers 360dialog
    /// sends with every delivery.
    pub fn d360_set_webhook(&self, url: &str, headers: &Value) -> HttpRequest {
        let body = json!({"url": url, "headers": headers});
        self.request("POST", self.d360_url("v1/configs/webhook"), Some(body))
    }
}

/// Checks a webhook URL against 360dialog's rules: https, no port, no
/// underscore in the host.
pub fn check_d360_webhook_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("url: must start with https://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() {
        return Err("url: has no host".into());
    }
    if host.contains(':') {
        return Err("url: must not name a port".into());
    }
    if host.contains('_') {
        return Err("url: the host must not contain an underscore".into());
    }
    if url.chars().any(char::is_whitespace) {
        return Err("url: must not contain spaces".into());
    }
    Ok(())
}

impl Endpoint {
    /// Uploads media as multipart (see [`crate::whatsapp::media::multipart`]).
    pub fn media_upload(
        &self,
        mime: &str,
        filename: &str,
        data: &[u8],
        boundary: &str,
    ) -> HttpRequest {
        HttpRequest {
            method: "POST",
            url: self.media_upload_url(),
            headers: vec![
                self.auth_header(),
                (
                    "Content-Type",
                    format!("multipart/form-data; boundary={boundary}"),
                ),
            ],
            body: Some(crate::whatsapp::media::multipart(
                boundary, mime, filename, data,
            )),
        }
    }
}

/// True for a two-step verification PIN: exactly six digits.
pub fn is_pin(pin: &str) -> bool {
    pin.len() == 6 && pin.bytes().all(|b| b.is_ascii_digit())
}
