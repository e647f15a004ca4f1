DROP TABLE session_event_tails;
