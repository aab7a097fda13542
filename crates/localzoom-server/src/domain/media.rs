//! Uploaded files: profile pictures and virtual backgrounds, their size and type rules. A file's type is read
//! from its first bytes, not from the name or content type the client claims.

use super::error::{DomainError, FileRefusal};

/// Zoom's largest profile picture: 2 MB.
pub const PICTURE_MAX_BYTES: usize = 2 * 1024 * 1024;
/// Zoom's largest virtual background file: 15 MB.
pub const BACKGROUND_MAX_BYTES: usize = 15 * 1024 * 1024;
/// Most virtual background files one user may have.
pub const BACKGROUNDS_PER_USER: usize = 10;

localzoom_api::wire_names! {
    /// What a virtual background file is (`type` in Zoom's answers).
    BackgroundKind {
        Image = "image",
        Video = "video",
    }
}

/// Where a user's picture of this version is served, relative to the server (the HTTP layer makes it absolute).
pub fn picture_path(user_id: &str, version: i64) -> String {
    format!("/p/{user_id}/{version}")
}

/// A virtual background file, as the user's settings list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualBackground {
    pub id: String,
    pub name: String,
    pub kind: BackgroundKind,
    pub size: i64,
    pub is_default: bool,
}

/// The picture's media type: JPEG or PNG, at most 2 MB and not empty.
pub fn picture_type(bytes: &[u8]) -> Result<&'static str, DomainError> {
    if bytes.is_empty() {
        return Err(FileRefusal::Empty.into());
    }
    if bytes.len() > PICTURE_MAX_BYTES {
        return Err(FileRefusal::PictureTooLarge.into());
    }
    match sniff(bytes) {
        Some(Sniffed::Jpeg) => Ok("image/jpeg"),
        Some(Sniffed::Png) => Ok("image/png"),
        _ => Err(FileRefusal::PictureType.into()),
    }
}

/// A background's kind: JPEG, GIF or PNG images, MP4 or MOV videos, at most 15 MB and not empty.
pub fn background_kind(bytes: &[u8]) -> Result<BackgroundKind, DomainError> {
    if bytes.is_empty() {
        return Err(FileRefusal::NoBackgroundFile.into());
    }
    if bytes.len() > BACKGROUND_MAX_BYTES {
        return Err(FileRefusal::BackgroundTooLarge.into());
    }
    match sniff(bytes) {
        Some(Sniffed::Jpeg | Sniffed::Png | Sniffed::Gif) => Ok(BackgroundKind::Image),
        Some(Sniffed::IsoMedia) => Ok(BackgroundKind::Video),
        None => Err(FileRefusal::BackgroundType.into()),
    }
}

enum Sniffed {
    Jpeg,
    Png,
    Gif,
    /// MP4 and QuickTime (MOV): an ISO base media file, whose first box is `ftyp` (or, in older MOVs, `moov`,
    /// `mdat`, `wide` or `free`).
    IsoMedia,
}

fn sniff(bytes: &[u8]) -> Option<Sniffed> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Sniffed::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Sniffed::Png)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some(Sniffed::Gif)
    } else if matches!(
        bytes.get(4..8),
        Some(b"ftyp" | b"moov" | b"mdat" | b"wide" | b"free")
    ) {
        Some(Sniffed::IsoMedia)
    } else {
        None
    }
}

impl From<VirtualBackground> for localzoom_api::VirtualBackgroundFile {
    fn from(file: VirtualBackground) -> Self {
        localzoom_api::VirtualBackgroundFile {
            id: file.id,
            name: file.name,
            kind: file.kind.as_str().into(),
            size: file.size,
            is_default: file.is_default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_from_the_bytes() {
        assert_eq!(picture_type(b"\xFF\xD8\xFF\xE0rest"), Ok("image/jpeg"));
        assert_eq!(picture_type(b"\x89PNG\r\n\x1a\nrest"), Ok("image/png"));
        assert_eq!(
            picture_type(b"GIF89a"),
            Err(FileRefusal::PictureType.into())
        );
        assert_eq!(picture_type(b""), Err(FileRefusal::Empty.into()));
        let big = [&[0xFF, 0xD8, 0xFF][..], &vec![0; PICTURE_MAX_BYTES]].concat();
        assert_eq!(picture_type(&big), Err(FileRefusal::PictureTooLarge.into()));
        assert_eq!(background_kind(b"GIF87a"), Ok(BackgroundKind::Image));
        assert_eq!(
            background_kind(b"\0\0\0\x20ftypisom"),
            Ok(BackgroundKind::Video)
        );
        assert_eq!(
            background_kind(b"%PDF-1.7"),
            Err(FileRefusal::BackgroundType.into())
        );
    }
}
