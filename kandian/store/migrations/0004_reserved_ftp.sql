-- 0004 belongs to the ftp slice (WAVE2.md); this empty stand-in keeps the numbers
-- without gaps on the firmware branch until that slice is merged, and goes then.
SELECT 1;
