-- One index by lease end for all of a license's holdings, ended ones included: live seats
-- (the lease runs past now) are a range of it, and so is the history a window of days
-- needs (the dashboard's peak use per day). It holds every column those reads test, so
-- counting a license's live seats (every checkout and heartbeat does) reads the index
-- alone. It replaces the partial index of open holdings by lease end: a heartbeat moves
-- its seat's entry in one index by lease end, not two.
DROP INDEX floating_seats_live;
CREATE INDEX floating_seats_ends ON floating_seats(license_id, lease_ends_at, released_at, checked_out_at);
