-- rememberMe lives on the session row: a one-day session must stay one day even if the client drops the
-- cookie that used to carry the choice. Existing sessions were all created remembered or with that
-- cookie; treating them as remembered keeps them working.
ALTER TABLE sessions ADD COLUMN remember INTEGER NOT NULL DEFAULT 1;
