//! WhatsApp's media rules: which MIME types each media kind takes, its size
//! limit, and the multipart body an upload is sent as. See
//! <https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types>.

/// A kind of media, with its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Audio,
    Video,
    Document,
    Sticker,
}

/// The largest media of any kind WhatsApp carries, in bytes.
pub const LARGEST: usize = 100 * 1024 * 1024;

impl MediaKind {
    /// Largest upload WhatsApp accepts for this kind, in bytes.
    pub fn limit(self) -> usize {
        const MB: usize = 1024 * 1024;
        match self {
            MediaKind::Image => 5 * MB,
            MediaKind::Audio | MediaKind::Video => 16 * MB,
            MediaKind::Document => LARGEST,
            MediaKind::Sticker => 100 * 1024,
        }
    }

    /// The kind's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

const DOCUMENT_TYPES: [&str; 8] = [
    "text/plain",
    "application/pdf",
    "application/msword",
    "application/vnd.ms-excel",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// Every kind of media and the MIME types it takes: the one table uploads
/// are checked against, and the one `GET /v1/media/limits` shows.
pub const KINDS: [(MediaKind, &[&str]); 5] = [
    (MediaKind::Image, &["image/jpeg", "image/png"]),
    (MediaKind::Sticker, &["image/webp"]),
    (MediaKind::Video, &["video/mp4", "video/3gpp"]),
    (
        MediaKind::Audio,
        &[
            "audio/aac",
            "audio/amr",
            "audio/mpeg",
            "audio/mp4",
            "audio/ogg",
        ],
    ),
    (MediaKind::Document, &DOCUMENT_TYPES),
];

/// The kind a MIME type uploads as, if WhatsApp accepts it.
pub fn kind_of(mime: &str) -> Option<MediaKind> {
    let mime = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(_, types)| types.contains(&mime.as_str()))
        .map(|(kind, _)| *kind)
}

/// What an upload may be, as the console checks a file before sending it:
/// each kind's MIME types and size limit.
pub fn limits() -> serde_json::Value {
    let kinds: Vec<serde_json::Value> = KINDS
        .iter()
        .map(|(kind, types)| {
            serde_json::json!({"kind": kind.as_str(), "types": types, "max_bytes": kind.limit()})
        })
        .collect();
    serde_json::json!({ "kinds": kinds })
}

/// How a downloaded media file is served to a browser: its content type
/// and whether it may be shown inline. A customer chooses a document's type,
/// so only images, audio and video a browser plays without running code are
/// served as themselves; anything else (HTML, SVG, scripts, PDFs) is served
/// as an `application/octet-stream` attachment, which no page can run.
pub fn served_as(mime: &str) -> (&'static str, bool) {
    const INLINE: [&str; 12] = [
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "video/mp4",
        "video/3gpp",
        "video/webm",
    ];
    let bare = mime
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match INLINE.iter().find(|m| **m == bare) {
        Some(m) => (m, true),
        None => ("application/octet-stream", false),
    }
}

/// Why an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("Content-Type {0:?} is not a media type WhatsApp accepts (JPEG/PNG images, WebP stickers, AAC/AMR/MP3/MP4/OGG audio, MP4/3GPP video, PDF/Office/text documents).")]
    UnsupportedType(String),
    #[error("{kind} media is limited to {limit} bytes; this upload is {size} bytes.")]
    TooLarge {
        kind: &'static str,
        limit: usize,
        size: usize,
    },
}

/// Checks an upload of `size` bytes of `mime`.
pub fn check_upload(mime: &str, size: usize) -> Result<MediaKind, UploadError> {
    let kind = kind_of(mime).ok_or_else(|| UploadError::UnsupportedType(mime.to_owned()))?;
    if size > kind.limit() {
        return Err(UploadError::TooLarge {
            kind: kind.as_str(),
            limit: kind.limit(),
            size,
        });
    }
    Ok(kind)
}

/// A `multipart/form-data` upload body as Graph's `/media` takes it:
/// `messaging_product`, `type` and the `file`.
pub fn multipart(boundary: &str, mime: &str, filename: &str, data: &[u8]) -> Vec<u8> {
    let safe_name: String = filename
        .chars()
        .filter(|c| !matches!(c, '"' | '\r' | '\n' | '\\'))
        .collect();
    let mut out = Vec::with_capacity(data.len() + 512);
    for (name, value) in [("messaging_product", "whatsapp"), ("type", mime)] {
        out.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(data);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}
