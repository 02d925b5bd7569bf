//! Source positions: sqlparser reports 1-based lines and character columns; we slice bytes.

use sqlparser::tokenizer::Location;

/// The byte offset of a location in `sql`, or `None` for an empty or out-of-range location.
pub fn location_offset(sql: &str, loc: Location) -> Option<usize> {
    if loc.line == 0 || loc.column == 0 {
        return None;
    }
    let line_start: usize = sql
        .split_inclusive('\n')
        .take(usize::try_from(loc.line).ok()?.checked_sub(1)?)
        .map(str::len)
        .sum();
    let line = sql.get(line_start..)?;
    let col = usize::try_from(loc.column).ok()?.checked_sub(1)?;
    let within = line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
    Some(line_start + within)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        let sql = "SELECT 'é', ?\nFROM t";
        assert_eq!(location_offset(sql, Location::new(1, 13)), Some(13));
        assert_eq!(location_offset(sql, Location::new(2, 1)), Some(15));
        assert_eq!(location_offset(sql, Location::new(0, 0)), None);
    }
}
