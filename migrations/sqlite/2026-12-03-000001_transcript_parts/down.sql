DROP TABLE transcript_parts;
